#!/usr/bin/env bash
# new_plugin_test.sh CMAKE GENERATOR CC CXX PKG_CONFIG STAGE SOURCE_DIR LANG
#
# tools/new-plugin NAME --lang LANG: the generated project is the same from the source tree and
# from the staged housebrain-new-plugin, builds warning-free against the staged SDK, exports only
# the entry symbol, and runs in the staged host as its README says, with its manifest entry.
cmake=$1 generator=$2 cc=$3 cxx=$4 pkgconfig=$5 stage=$6 src=$7 lang=$8
here=$(dirname "$0")
. "$here/lib.sh"

name=sdk-hello-$lang # a '-' in the name: C++ class SdkHelloCpp
case $lang in
    c) source=$name.c ;;
    cpp) source=$name.cpp ;;
esac
proj=$work/proj

# Generate, with the source tree's script and with the installed one.
if ! "$src/tools/new-plugin" "$name" --lang "$lang" "$work/from-source" >"$work/gen.log" 2>&1 ||
    ! "$stage/bin/housebrain-new-plugin" "$name" --lang="$lang" "$proj" >>"$work/gen.log" 2>&1; then
    cat "$work/gen.log"
    echo "FAIL: new-plugin $name --lang $lang failed"
    exit 1
fi
for f in CMakeLists.txt "$source" manifest-entry.toml README.md; do
    [[ -s $proj/$f ]] && ok "generated $f" || fail "new-plugin did not generate $f"
done
diff -r "$work/from-source" "$proj" >"$work/diff" && ok "tools/new-plugin and the installed housebrain-new-plugin agree" ||
    { fail "tools/new-plugin and housebrain-new-plugin generate different projects:"; cat "$work/diff"; }
if grep -rn '@[A-Z_]*@' "$proj"; then fail "unreplaced placeholders in the generated project"; fi
grep -q 'find_package(HouseBrainPlugin' "$proj/CMakeLists.txt" && ok "CMakeLists.txt uses find_package(HouseBrainPlugin)" ||
    fail "CMakeLists.txt does not use find_package(HouseBrainPlugin)"
if [[ $lang == cpp ]]; then
    grep -q '#include <housebrain/plugin.hpp>' "$proj/$source" && grep -q '^HOUSEBRAIN_PLUGIN(SdkHelloCpp, "sdk-hello-cpp"' "$proj/$source" &&
        ok "$source uses HOUSEBRAIN_PLUGIN from <housebrain/plugin.hpp>" || fail "$source does not use HOUSEBRAIN_PLUGIN"
else
    grep -q '#include <housebrain/plugin.h>' "$proj/$source" && ! grep -q 'plugin.hpp' "$proj/$source" &&
        ok "$source includes <housebrain/plugin.h> alone" || fail "$source does not use <housebrain/plugin.h> alone"
fi

# Build as generated (warnings are errors here: the template must be clean).
if ! "$cmake" -S "$proj" -B "$proj/build" -G "$generator" -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_PREFIX_PATH="$stage" -DCMAKE_COMPILE_WARNING_AS_ERROR=ON >"$work/build.log" 2>&1 ||
    ! "$cmake" --build "$proj/build" >>"$work/build.log" 2>&1; then
    cat "$work/build.log"
    echo "FAIL: the generated project does not build"
    exit 1
fi
ok "the generated project builds: $proj/build/$name.so"
check_exports "$proj/build/$name.so"

# The README's "Try it" commands, verbatim, with the staged tools first in PATH.
awk '/^## Try it/ { on = 1; next } /^## / { on = 0 } on && /^    / { sub(/^    /, ""); print }' "$proj/README.md" >"$work/try.sh"
if [[ ! -s $work/try.sh ]]; then
    fail "no commands under '## Try it' in the generated README.md"
elif out=$(cd "$proj" && PATH="$stage/bin:$PATH" bash -euo pipefail "$work/try.sh" 2>&1) &&
    [[ $(tail -n 1 <<<"$out") == "hello from $name" ]]; then
    ok "the README's 'Try it' commands run the plugin in the host: 'hello from $name'"
else
    fail "the README's 'Try it' commands:"
    sed 's/^/    /' "$work/try.sh"
    echo "  printed:"
    printf '%s\n' "$out" | sed 's/^/    /'
fi

# The generated manifest entry, with its commented output key set, in a manifest of its own.
d=$work/host
mkdir -p "$d/plugins"
"$stage/bin/housebrain-install-plugin" "$proj/build/$name.so" "$d/plugins" >/dev/null
write_manifest() { # write_manifest EXTRA_CONFIG_LINE
    {
        printf '[settings]\nplugins_dir = "plugins"\nstate_dir = "state"\n\n'
        sed "s|^# output = .*|output = \"$d/out.txt\"|" "$proj/manifest-entry.toml"
        printf '%s\n' "$1"
    } >"$d/manifest.toml"
}
write_manifest ""
rc=0
out=$("$stage/bin/housebrain-periodic" --config "$d/manifest.toml" --run-task "$name" --log-level debug 2>&1) || rc=$?
if [[ $rc -eq 0 && $(cat "$d/out.txt" 2>/dev/null) == "hello from $name" ]] && grep -qF "wrote 'hello from $name' to $d/out.txt" <<<"$out"; then
    ok "with manifest-entry.toml the task writes 'hello from $name' to its output and logs it"
else
    fail "with manifest-entry.toml: exit $rc, output file '$(cat "$d/out.txt" 2>/dev/null)'"
    printf '%s\n' "$out" | sed 's/^/    /'
fi
list=$("$stage/bin/housebrain-periodic" --config "$d/manifest.toml" --list 2>&1 || true)
grep -q "writes a greeting to a file" <<<"$list" && ok "--list shows the plugin's description" ||
    { fail "--list does not show the plugin's description:"; printf '%s\n' "$list" | sed 's/^/    /'; }
write_manifest 'colour = "red"'
rc=0
out=$("$stage/bin/housebrain-periodic" --config "$d/manifest.toml" --run-task "$name" 2>&1) || rc=$?
if [[ $rc -eq 1 ]] && grep -q "unknown config key 'colour'" <<<"$out"; then
    ok "an unknown config key fails the task and is named"
else
    fail "an unknown config key: exit $rc"
    printf '%s\n' "$out" | sed 's/^/    /'
fi

# The README's pkg-config one-liner.
line=$(grep -- '-shared -fPIC' "$proj/README.md" | sed 's/^ *//')
line=${line/#cc /$cc }
line=${line/#c++ /$cxx }
if (cd "$proj" && PKG_CONFIG_PATH=$(dirname "$(stage_file housebrain-plugin.pc)") PKG_CONFIG=$pkgconfig \
    PATH="$(dirname "$pkgconfig"):$PATH" bash -euo pipefail -c "$line") >"$work/pc.log" 2>&1; then
    ok "the README's pkg-config command builds $name.so"
    check_exports "$proj/$name.so"
else
    cat "$work/pc.log"
    fail "the README's pkg-config command failed: $line"
fi

# Usage errors are refused with the reason, and nothing is written.
expect_refusal() { # expect_refusal TEXT ARGS...
    local want=$1 rc=0 out
    shift
    out=$("$src/tools/new-plugin" "$@" 2>&1) || rc=$?
    if [[ $rc -ne 0 && $out == *"$want"* ]]; then ok "new-plugin $* is refused: $want"; else fail "new-plugin $*: exit $rc: $out"; fi
}
expect_refusal "plugin name 'Bad Name'" "Bad Name" --lang "$lang" "$work/bad1"
expect_refusal "--lang must be c or cpp" good --lang rust "$work/bad2"
expect_refusal "is not empty" "$name" --lang "$lang" "$proj"
[[ ! -e $work/bad1 && ! -e $work/bad2 ]] && ok "refused runs created nothing" || fail "a refused run created its directory"
exit $status
