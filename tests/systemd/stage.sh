#!/bin/sh
# stage.sh CMAKE BUILD_DIR DEST
# Installs the runtime component of BUILD_DIR under DEST (DESTDIR), exactly as `cmake --install`
# or the package would lay it out: binary, plugins, units, helper scripts.
set -eu
cmake=$1 build=$2 dest=$3
if ! out=$(DESTDIR=$dest "$cmake" --install "$build" --component runtime 2>&1); then
  printf '%s\n' "$out" >&2
  echo "stage.sh: installing the runtime component failed (is housebrain-periodic built?)" >&2
  exit 1
fi
