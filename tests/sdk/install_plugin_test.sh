#!/usr/bin/env bash
# install_plugin_test.sh CC PKG_CONFIG STAGE SOURCE_DIR
#
# tools/install-plugin: installs with mode 0644 and the right owner, leaves no temporary file,
# refuses what is not a plugin with the reason, finds the default plugins directory, and replaces
# a plugin without disturbing a process that has the old one mapped (while an in-place overwrite,
# the control, does disturb it: so the probe can tell).
cc=$1 pkgconfig=$2 stage=$3 src=$4
here=$(dirname "$0")
. "$here/lib.sh"
tool=$src/tools/install-plugin

pc=$(stage_file housebrain-plugin.pc)
read -r -a flags <<<"$(PKG_CONFIG_PATH=$(dirname "$pc") "$pkgconfig" --cflags --libs housebrain-plugin)"
build() { # build OUT.so TAG: probe.c with PROBE_TAG (also its version string) set to TAG
    "$cc" -shared -fPIC -o "$1" "$here/probe.c" "-DPROBE_TAG=\"$2\"" "${flags[@]}"
}
mkdir "$work/old" "$work/new" "$work/plugins"
build "$work/old/sdk_probe.so" old
build "$work/new/sdk_probe.so" new
"$cc" -o "$work/mapped_probe" "$here/mapped_probe.c" "-I$stage/include" -ldl
plugins=$work/plugins
[[ $(id -u) -eq 0 ]] && owner=root:root || owner="$(id -un):$(id -gn)"

leftovers() { find "$plugins" -mindepth 1 -name '.*'; }

# A fresh install.
if out=$("$tool" "$work/old/sdk_probe.so" "$plugins" 2>&1); then
    ok "installed: $out"
else
    fail "install-plugin failed: $out"
fi
got=$(stat -c '%a %U:%G' "$plugins/sdk_probe.so" 2>/dev/null || echo missing)
[[ $got == "644 $owner" ]] && ok "installed with mode 0644, owner $owner" || fail "installed file is '$got', expected '644 $owner'"
cmp -s "$work/old/sdk_probe.so" "$plugins/sdk_probe.so" && ok "installed file has the same bytes" || fail "installed file differs from the source"
[[ -z $(leftovers) ]] && ok "no temporary file left" || fail "left behind: $(leftovers)"

# Replace it while a process has the old one mapped and is about to call into it again.
"$work/mapped_probe" "$plugins/sdk_probe.so" "$work/ready" "$work/go" >"$work/probe.out" 2>&1 &
probe=$!
for _ in $(seq 1 600); do [[ -e $work/ready ]] || ! kill -0 $probe 2>/dev/null && break; sleep 0.1; done
out=$("$tool" "$work/new/sdk_probe.so" "$plugins" 2>&1) || fail "replacing failed: $out"
touch "$work/go"
rc=0
{ wait $probe; } 2>/dev/null || rc=$? # a signal death is reported below, with the context
if [[ $rc -eq 0 ]] && grep -qx "after: sdk_probe old" "$work/probe.out"; then
    ok "a process with the old plugin mapped keeps running it after the replace: $(paste -sd' ' "$work/probe.out")"
else
    fail "the process with the old plugin mapped: exit $rc, printed: $(paste -sd' ' "$work/probe.out")"
fi
cmp -s "$work/new/sdk_probe.so" "$plugins/sdk_probe.so" && ok "the new plugin is in place" || fail "the plugin was not replaced"
[[ -z $(leftovers) ]] && ok "no temporary file left after the replace" || fail "left behind: $(leftovers)"
expect_marker "$plugins/sdk_probe.so" "new c x 42"

# Control: the same probe around an in-place overwrite (what cp does) sees the new bytes through
# its mapping, or crashes. Were this not so, the check above would prove nothing.
mkdir "$work/inplace"
install -m 0644 "$work/old/sdk_probe.so" "$work/inplace/sdk_probe.so"
rm -f "$work/ready" "$work/go"
"$work/mapped_probe" "$work/inplace/sdk_probe.so" "$work/ready" "$work/go" >"$work/probe.out" 2>&1 &
probe=$!
for _ in $(seq 1 600); do [[ -e $work/ready ]] || ! kill -0 $probe 2>/dev/null && break; sleep 0.1; done
cp "$work/new/sdk_probe.so" "$work/inplace/sdk_probe.so"
touch "$work/go"
rc=0
{ wait $probe; } 2>/dev/null || rc=$? # a signal death is reported below, with the context
if [[ $rc -gt 128 ]] || { [[ $rc -eq 0 ]] && ! grep -qx "after: sdk_probe old" "$work/probe.out"; }; then
    ok "control: after an in-place cp the mapped process is disturbed (exit $rc: $(paste -sd' ' "$work/probe.out"))"
else
    fail "control: an in-place cp did not disturb the mapped process (exit $rc: $(paste -sd' ' "$work/probe.out"))"
fi

# Refusals: each with its reason, and the plugins directory untouched.
before=$(ls -lA --time-style=+%s.%N "$plugins")
printf '#!/bin/sh\necho not a plugin\n' >"$work/script.so"
"$cc" -shared -fPIC -o "$work/no_entry.so" "$here/not_a_plugin.c"
"$cc" -o "$work/program.so" -x c - <<<'int main(void) { return 0; }'
cp "$work/old/sdk_probe.so" "$work/probe.txt"
cp "$work/old/sdk_probe.so" "$work/.hidden.so"
expect_refusal() { # expect_refusal TEXT ARGS...
    local want=$1 rc=0 out
    shift
    out=$("$tool" "$@" 2>&1) || rc=$?
    if [[ $rc -ne 0 && $out == *"$want"* ]]; then ok "refused $(basename "$1"): $out"; else fail "$(basename "$1"): exit $rc: $out"; fi
}
expect_refusal "is not an ELF file" "$work/script.so" "$plugins"
expect_refusal "does not export the function housebrain_plugin_entry" "$work/no_entry.so" "$plugins"
expect_refusal "not a shared object" "$work/program.so" "$plugins"
expect_refusal "must end in .so" "$work/probe.txt" "$plugins"
expect_refusal "starts with '.'" "$work/.hidden.so" "$plugins"
expect_refusal "no such file" "$work/missing.so" "$plugins"
expect_refusal "does not exist" "$work/new/sdk_probe.so" "$work/no-such-dir"
[[ $(ls -lA --time-style=+%s.%N "$plugins") == "$before" ]] && ok "refusals left the plugins directory untouched" ||
    fail "a refusal changed the plugins directory: $(ls -lA "$plugins")"

# Default PLUGINS_DIR: the installed copy knows where it was installed; the source tree's copy
# asks pkg-config. Both mean the staged plugins directory here.
plugindir=$(PKG_CONFIG_PATH=$(dirname "$pc") "$pkgconfig" --variable=plugindir housebrain-plugin)
cp "$work/old/sdk_probe.so" "$work/sdk_default_probe.so"
for t in "$stage/bin/housebrain-install-plugin" "$tool"; do
    rm -f "$plugindir/sdk_default_probe.so"
    if out=$(PKG_CONFIG_PATH=$(dirname "$pc") PATH="$(dirname "$pkgconfig"):$PATH" "$t" "$work/sdk_default_probe.so" 2>&1) &&
        cmp -s "$work/sdk_default_probe.so" "$plugindir/sdk_default_probe.so"; then
        ok "$(basename "$t") without PLUGINS_DIR installs into $plugindir"
    else
        fail "$(basename "$t") without PLUGINS_DIR: $out"
    fi
done
rm -f "$plugindir/sdk_default_probe.so"
exit $status
