#!/usr/bin/env bash
# stage.sh CMAKE BUILD_DIR HOST_BINARY ROOT
#
# Installs the whole build (runtime and dev components) into ROOT/stage, for the other SDK tests.
# `cmake --install --prefix` alone is not enough: some destinations are absolute (the systemd
# units go to /lib/systemd/system), and a test must not write there. So DESTDIR=ROOT catches
# those, with prefix /stage: the SDK then works from ROOT/stage, a place it was not configured
# for, which also shows that its files are relocatable.
set -euo pipefail
cmake=$1 build=$2 binary=$3 root=$4

if [[ ! -x $binary ]]; then
    echo "FAIL: $binary is not built: build the project (cmake --build $build) before running the tests"
    exit 1
fi
rm -rf -- "$root"
mkdir -p -- "$root"
if ! out=$(DESTDIR=$root "$cmake" --install "$build" --prefix /stage 2>&1); then
    printf '%s\n' "$out"
    echo "FAIL: cmake --install $build failed (is everything built?)"
    exit 1
fi
status=0
for f in bin/housebrain-periodic bin/housebrain-new-plugin bin/housebrain-install-plugin \
    include/housebrain/plugin.h include/housebrain/plugin.hpp; do
    if [[ -f $root/stage/$f ]]; then echo "ok: staged $f"; else echo "FAIL: $f not installed"; status=1; fi
done
for f in HouseBrainPluginConfig.cmake HouseBrainPluginConfigVersion.cmake HouseBrainPluginTargets.cmake \
    HouseBrainPluginFunctions.cmake plugin.map housebrain-plugin.pc; do
    n=$(find "$root/stage" -name "$f" -type f | wc -l)
    if [[ $n -eq 1 ]]; then echo "ok: staged $f"; else echo "FAIL: $n copies of $f installed"; status=1; fi
done
exit $status
