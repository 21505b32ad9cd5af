#!/bin/sh
# verify_units.sh CMAKE BUILD_DIR UNIT_DIR DROPIN_EXAMPLE UNIT...
#
# `systemd-analyze verify` on each installed unit, in a staging root made by `cmake --install`
# (so the ExecStart= binaries it checks are the installed ones, at the paths the units name).
# verify exits 0 even for unknown keys, so any output at all is a failure.
set -eu
here=$(dirname "$0")
cmake=$1 build=$2 unit_dir=$3 dropin=$4
shift 4

root=$(mktemp -d "${TMPDIR:-/tmp}/hb-verify.XXXXXX")
trap 'rm -rf "$root"' EXIT
sh "$here/stage.sh" "$cmake" "$build" "$root"

# The units' default dependencies (sysinit.target, basic.target, ...) must exist under the
# root, or verify reports them missing: take them from this machine's systemd.
host_units=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
mkdir -p "$root/lib/systemd/system"
for t in sysinit.target basic.target shutdown.target timers.target; do
  [ -e "$root$unit_dir/$t" ] || cp "$host_units/$t" "$root/lib/systemd/system/$t"
done

status=0
check() {
  # check LABEL UNIT_PATH
  out=$(systemd-analyze verify --root="$root" "$2" 2>&1) || true
  if [ -n "$out" ]; then
    echo "FAIL: systemd-analyze verify $1:"
    printf '%s\n' "$out"
    status=1
  else
    echo "ok: systemd-analyze verify $1"
  fi
}

# The oracle must be able to say no here: a copy of the service with a misspelt key has to
# produce output, or a silent verify below proves nothing.
sed 's/^Type=oneshot$/Type=oneshot\nTimeoutStartSecs=55s/' "$root$unit_dir/housebrain-periodic.service" \
  >"$root$unit_dir/hb-verify-selftest.service"
if [ -z "$(systemd-analyze verify --root="$root" "$unit_dir/hb-verify-selftest.service" 2>&1)" ]; then
  echo "FAIL: systemd-analyze verify printed nothing for a unit with an unknown key"
  exit 1
fi
rm "$root$unit_dir/hb-verify-selftest.service"

for unit in "$@"; do
  [ -f "$root$unit_dir/$unit" ] || { echo "FAIL: $unit not installed in $unit_dir"; status=1; continue; }
  check "$unit" "$unit_dir/$unit"
done

# The documented admin drop-in must not break the service either.
mkdir -p "$root/etc/systemd/system/housebrain-periodic.service.d"
cp "$dropin" "$root/etc/systemd/system/housebrain-periodic.service.d/"
check "housebrain-periodic.service + $(basename "$dropin")" "$unit_dir/housebrain-periodic.service"
exit $status
