#!/usr/bin/env bash
# cmake_package_test.sh CMAKE GENERATOR CC CXX STAGE SOURCE_DIR
#
# An out-of-tree project (consumer/) built with find_package(HouseBrainPlugin) against the staged
# SDK: the package's target, variables and version rule; plugins in C and C++ that export only
# the entry symbol and run in the staged host; --no-undefined turning a missing symbol into a
# link error.
cmake=$1 generator=$2 cc=$3 cxx=$4 stage=$5 src=$6
here=$(dirname "$0")
. "$here/lib.sh"

abi=$(abi_version "$src/plugin-api/include/housebrain/plugin.h")
major=${abi%%.*}
configure() { # configure BUILD_DIR [CMAKE ARGS...]
    local b=$1
    shift
    "$cmake" -S "$here/consumer" -B "$b" -G "$generator" -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
        -DCMAKE_PREFIX_PATH="$stage" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON "$@" >"$b.log" 2>&1
}

b=$work/build
if ! configure "$b" -DSDK_REQUEST_VERSION="$abi" || ! "$cmake" --build "$b" >>"$b.log" 2>&1; then
    cat "$b.log"
    echo "FAIL: the out-of-tree project does not build against the staged SDK"
    exit 1
fi
ok "find_package(HouseBrainPlugin $abi REQUIRED) and housebrain_add_plugin build in $b"

# What the package provides.
get() { sed -n "s/^$1=//p" "$b/sdk-package.txt"; }
same_dir() { [[ -d $1 && -d $2 && $(realpath "$1") == $(realpath "$2") ]]; }
[[ $(realpath -m "$(get dir)") == $(realpath "$stage")/* ]] && ok "found the package in the stage: $(get dir)" ||
    fail "found the package at '$(get dir)', not in $stage"
[[ $(get version) == "$abi" ]] && ok "HouseBrainPlugin_VERSION is the plugin ABI version $abi" ||
    fail "HouseBrainPlugin_VERSION is '$(get version)', expected the ABI version $abi"
[[ $(get type) == INTERFACE_LIBRARY ]] && ok "HouseBrain::plugin is an INTERFACE target" ||
    fail "HouseBrain::plugin has type '$(get type)'"
same_dir "$(get includes)" "$stage/include" && [[ -f $(get includes)/housebrain/plugin.hpp ]] &&
    ok "HouseBrain::plugin includes $(get includes)" ||
    fail "HouseBrain::plugin includes '$(get includes)', not $stage/include"
plugindir=$(get plugindir)
if [[ $(realpath -m "$plugindir") == $(realpath "$stage")/* && -f $plugindir/heartbeat.so ]]; then
    ok "HouseBrainPlugin_PLUGINDIR is the staged plugins directory $plugindir"
else
    fail "HouseBrainPlugin_PLUGINDIR is '$plugindir', which does not hold the staged heartbeat.so"
fi

# Hidden visibility on every compile command of the plugins.
for s in probe.c probe.cpp; do
    if grep -F "/$s" "$b/compile_commands.json" | grep -q -- '-fvisibility=hidden'; then
        ok "$s is compiled with -fvisibility=hidden"
    else
        fail "$s is compiled without -fvisibility=hidden"
    fi
done

check_exports "$b/sdk_cmake_c.so"
check_exports "$b/sdk_cmake_cpp.so"
expect_marker "$b/sdk_cmake_c.so" "cmake c x 42"
expect_marker "$b/sdk_cmake_cpp.so" "cmake cpp x 42"

# SameMajorVersion: another ABI major is refused at configure time, with the reason.
if configure "$work/major" -DSDK_REQUEST_VERSION=$((major + 1)); then
    fail "find_package(HouseBrainPlugin $((major + 1))) accepted SDK $abi"
elif grep -q "version: $abi" "$work/major.log"; then
    ok "find_package(HouseBrainPlugin $((major + 1))) refuses SDK $abi"
else
    cat "$work/major.log"
    fail "find_package(HouseBrainPlugin $((major + 1))) failed without naming version $abi"
fi

# -Wl,--no-undefined: a call to a function defined nowhere fails the link, not the load.
if configure "$work/undef" -DSDK_TEST_UNDEFINED=ON && "$cmake" --build "$work/undef" --target sdk_undefined >>"$work/undef.log" 2>&1; then
    fail "a plugin calling an undefined function linked (no --no-undefined?)"
elif grep -q "undefined reference to .sdk_nowhere_defined" "$work/undef.log"; then
    ok "a plugin calling an undefined function fails to link"
else
    cat "$work/undef.log"
    fail "building sdk_undefined failed, but not with an undefined reference"
fi
exit $status
