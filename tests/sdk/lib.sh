# shellcheck shell=bash disable=SC2034,SC2154
# Shared by the SDK test scripts (sourced after they set `stage`, the staged install prefix).
set -euo pipefail
umask 022 # the host refuses plugins and plugin directories writable by group or others

work=$(mktemp -d "${TMPDIR:-/tmp}/hb-sdk.XXXXXX")
trap 'rm -rf "$work"' EXIT
status=0
ok() { echo "ok: $*"; }
fail() {
    echo "FAIL: $*"
    status=1
}

[[ -x $stage/bin/housebrain-periodic ]] ||
    { echo "FAIL: no staged host at $stage/bin/housebrain-periodic (did the sdk.stage test run?)"; exit 1; }

# stage_file NAME: the one file called NAME in the staged install.
stage_file() {
    local found
    found=$(find "$stage" -name "$1" -type f)
    if [[ -z $found || $(wc -l <<<"$found") -ne 1 ]]; then
        echo "FAIL: expected one $1 in the staged install, found: ${found:-none}" >&2
        exit 1
    fi
    echo "$found"
}

# The plugin ABI version of the source tree's header, MAJOR.MINOR.
abi_version() {
    local h=$1 major minor
    major=$(sed -n 's/^#define HB_ABI_VERSION_MAJOR \([0-9]*\).*/\1/p' "$h")
    minor=$(sed -n 's/^#define HB_ABI_VERSION_MINOR \([0-9]*\).*/\1/p' "$h")
    echo "$major.$minor"
}

# check_exports SO: the dynamic symbol table defines housebrain_plugin_entry and nothing else.
check_exports() {
    local syms
    syms=$(nm -D --defined-only "$1" | awk '{ print $NF }' | sort -u | paste -sd' ')
    if [[ $syms == housebrain_plugin_entry ]]; then
        ok "$(basename "$1") exports only housebrain_plugin_entry"
    else
        fail "$(basename "$1") exports '$syms', not housebrain_plugin_entry alone"
    fi
}

# run_in_host SO TASK CONFIG: a private plugins directory holding SO (mode 0644) and a manifest
# with one task TASK running it, CONFIG being its [task.config] lines; runs the staged host with
# --run-task TASK. Sets host_rc and host_out (stdout and stderr).
run_in_host() {
    local so=$1 task=$2 config=$3 d
    d=$(mktemp -d "$work/host.XXXXXX")
    mkdir "$d/plugins"
    install -m 0644 "$so" "$d/plugins/"
    cat >"$d/manifest.toml" <<TOML
[settings]
plugins_dir = "plugins"
state_dir = "state"

[[task]]
name = "$task"
plugin = "$(basename "$so")"

[task.config]
$config
TOML
    host_rc=0
    host_out=$("$stage/bin/housebrain-periodic" --config "$d/manifest.toml" --run-task "$task" 2>&1) || host_rc=$?
}

# expect_marker SO TEXT: runs SO in the host with a marker file and expects TEXT in it.
expect_marker() {
    local so=$1 want=$2 marker
    marker=$(mktemp "$work/marker.XXXXXX")
    run_in_host "$so" x "marker = \"$marker\""
    if [[ $host_rc -ne 0 ]]; then
        fail "$(basename "$so") in the host: exit $host_rc"
        printf '%s\n' "$host_out" | sed 's/^/    /'
    elif [[ $(cat "$marker") != "$want" ]]; then
        fail "$(basename "$so") in the host wrote '$(cat "$marker")', expected '$want'"
    else
        ok "$(basename "$so") ran in the staged host: '$want'"
    fi
}
