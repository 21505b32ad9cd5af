#!/bin/sh
# security_units.sh CMAKE BUILD_DIR UNIT_DIR DROPIN_EXAMPLE MAX_EXPOSURE
#
# `systemd-analyze security --offline=yes` on the installed units, alone and with the documented
# admin drop-in: the "Overall exposure level" must be at most MAX_EXPOSURE.
set -eu
here=$(dirname "$0")
cmake=$1 build=$2 unit_dir=$3 dropin=$4 max=$5

root=$(mktemp -d "${TMPDIR:-/tmp}/hb-security.XXXXXX")
trap 'rm -rf "$root"' EXIT
sh "$here/stage.sh" "$cmake" "$build" "$root"

status=0
check() {
  # check LABEL UNIT_NAME
  out=$(systemd-analyze security --offline=yes --root="$root" "$2" 2>&1) || true
  level=$(printf '%s\n' "$out" | sed -n 's/^→ Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p')
  if [ -z "$level" ]; then
    echo "FAIL: no exposure level for $1 in:"
    printf '%s\n' "$out"
    status=1
  elif awk -v l="$level" -v m="$max" 'BEGIN { exit !(l + 0 <= m + 0) }'; then
    echo "ok: $1 exposure $level <= $max"
  else
    echo "FAIL: $1 exposure $level > $max; what it lacks:"
    printf '%s\n' "$out" | grep '^✗'
    status=1
  fi
}

check housebrain-periodic.service housebrain-periodic.service
check housebrain-periodic-failure@.service housebrain-periodic-failure@housebrain-periodic.service.service

mkdir -p "$root/etc/systemd/system/housebrain-periodic.service.d"
cp "$dropin" "$root/etc/systemd/system/housebrain-periodic.service.d/"
check "housebrain-periodic.service + $(basename "$dropin")" housebrain-periodic.service
exit $status
