#!/usr/bin/env bash
# pkg_config_test.sh PKG_CONFIG CC CXX STAGE SOURCE_DIR
#
# housebrain-plugin.pc from the staged SDK: its variables, and plugins in C and C++ built with
# nothing but `cc -shared -fPIC $(pkg-config --cflags --libs housebrain-plugin)`, which export
# only the entry symbol, run in the staged host, and fail to link on an undefined symbol.
pkgconfig=$1 cc=$2 cxx=$3 stage=$4 src=$5
here=$(dirname "$0")
. "$here/lib.sh"

abi=$(abi_version "$src/plugin-api/include/housebrain/plugin.h")
pc=$(stage_file housebrain-plugin.pc)
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
pkg() { "$pkgconfig" "$@" housebrain-plugin; }

if ! pkg --exists --print-errors; then
    echo "FAIL: pkg-config cannot use $pc"
    exit 1
fi
[[ $(pkg --modversion) == "$abi" ]] && ok "Version is the plugin ABI version $abi" ||
    fail "pkg-config --modversion says '$(pkg --modversion)', expected $abi"
plugindir=$(pkg --variable=plugindir)
if [[ $(realpath -m "$plugindir") == $(realpath "$stage")/* && -f $plugindir/heartbeat.so ]]; then
    ok "plugindir is the staged plugins directory: $plugindir"
else
    fail "plugindir is '$plugindir', which does not hold the staged heartbeat.so"
fi
cflags=$(pkg --cflags)
libs=$(pkg --libs)
echo "cflags: $cflags"
echo "libs: $libs"
[[ " $cflags " == *" -fvisibility=hidden "* ]] && ok "Cflags has -fvisibility=hidden" || fail "Cflags lacks -fvisibility=hidden"
include=$(tr ' ' '\n' <<<"$cflags" | sed -n 's/^-I//p')
[[ -f $include/housebrain/plugin.h && $(realpath "$include") == $(realpath "$stage/include") ]] &&
    ok "Cflags names the staged include directory" || fail "Cflags names include directory '$include'"
[[ " $libs " == *" -Wl,--no-undefined "* ]] && ok "Libs has -Wl,--no-undefined" || fail "Libs lacks -Wl,--no-undefined"
map=$(tr ' ' '\n' <<<"$libs" | sed -n 's/^-Wl,--version-script=//p')
if [[ -f $map ]] && cmp -s "$map" "$src/plugin-api/cmake/plugin.map" && [[ $(realpath "$map") == $(realpath "$stage")/* ]]; then
    ok "Libs names the staged version script $map"
else
    fail "Libs names version script '$map', not the staged plugin.map"
fi

# The one-liners of the documentation, in C and in C++.
read -r -a flags <<<"$cflags $libs"
if "$cc" -shared -fPIC -Wall -Wextra -Werror -o "$work/sdk_pc_c.so" "$here/probe.c" '-DPROBE_TAG="pkgconfig"' "${flags[@]}" 2>"$work/cc.log" &&
    "$cxx" -std=c++17 -shared -fPIC -Wall -Wextra -Werror -o "$work/sdk_pc_cpp.so" "$here/probe.cpp" '-DPROBE_TAG="pkgconfig"' "${flags[@]}" 2>>"$work/cc.log"; then
    ok "built C and C++ plugins with cc/c++ -shared -fPIC \$(pkg-config --cflags --libs housebrain-plugin)"
    check_exports "$work/sdk_pc_c.so"
    check_exports "$work/sdk_pc_cpp.so"
    expect_marker "$work/sdk_pc_c.so" "pkgconfig c x 42"
    expect_marker "$work/sdk_pc_cpp.so" "pkgconfig cpp x 42"
else
    cat "$work/cc.log"
    fail "building with the pkg-config flags failed"
fi

if "$cc" -shared -fPIC -o "$work/undefined.so" "$here/undefined.c" "${flags[@]}" 2>"$work/undef.log"; then
    fail "a plugin calling an undefined function linked with the pkg-config flags"
elif grep -q "undefined reference to .sdk_nowhere_defined" "$work/undef.log"; then
    ok "a plugin calling an undefined function fails to link"
else
    cat "$work/undef.log"
    fail "linking undefined.c failed, but not with an undefined reference"
fi
exit $status
