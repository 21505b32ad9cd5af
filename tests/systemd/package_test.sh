#!/bin/sh
# package_test.sh CMAKE CPACK BUILD_DIR PACKAGING_DIR BINARY UNIT_DIR PLUGINS_DIR INCLUDE_DIR OUT_DIR
#                 CONFIG_DIR
#
# Runs CPack in the build tree and checks the two Debian packages with dpkg-deb: each holds
# exactly what `cmake --install --component` installs (binary, plugins, units / headers), the
# runtime package carries the maintainer scripts from PACKAGING_DIR, and has dependencies.
# The packages are left in OUT_DIR (emptied first) for package_install.py.
set -eu
here=$(dirname "$0")
cmake=$1 cpack=$2 build=$3 packaging=$4 binary=$5 unit_dir=$6 plugins_dir=$7 include_dir=$8 out=${9:?OUT_DIR} config_dir=${10:?CONFIG_DIR}

command -v dpkg-deb >/dev/null || { echo "SKIP: dpkg-deb not installed"; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/hb-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
status=0
fail() { echo "FAIL: $*"; status=1; }

rm -rf "$out"
mkdir -p "$out"
if ! "$cpack" --config "$build/CPackConfig.cmake" -B "$work/cpack" >"$work/cpack.log" 2>&1; then
  cat "$work/cpack.log"
  echo "FAIL: cpack"
  exit 1
fi

cp "$work"/cpack/*.deb "$out"/
one_deb() {
  set -- "$out/$1"_*.deb
  [ $# -eq 1 ] && [ -f "$1" ] || { ls "$out" >&2; return 1; }
  echo "$1"
}
runtime=$(one_deb housebrain-periodic) || { echo "FAIL: no single housebrain-periodic_*.deb"; exit 1; }
dev=$(one_deb housebrain-periodic-plugin-dev) || { echo "FAIL: no single housebrain-periodic-plugin-dev_*.deb"; exit 1; }
echo "packages: $(basename "$runtime") $(basename "$dev")"

# Files (not directories) in a package, and in a DESTDIR install of the matching component.
deb_files() { dpkg-deb -c "$1" | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\./|/|' | sort; }
installed_files() {
  rm -rf "$work/stage"
  DESTDIR="$work/stage" "$cmake" --install "$build" --component "$1" >/dev/null
  (cd "$work/stage" && find . ! -type d | sed 's|^\./|/|' | sort)
}

same_files() {
  # same_files PACKAGE COMPONENT
  deb_files "$1" >"$work/deb.list"
  installed_files "$2" >"$work/install.list"
  if ! diff -u "$work/install.list" "$work/deb.list" >"$work/diff"; then
    fail "$(basename "$1") differs from cmake --install --component $2 (- install, + package):"
    cat "$work/diff"
  fi
}
same_files "$runtime" runtime
same_files "$dev" dev

must_have() {
  # must_have PACKAGE PATH
  if deb_files "$1" | grep -qxF "$2"; then
    echo "ok: $(basename "$1") has $2"
  else
    fail "$(basename "$1") lacks $2"
  fi
}
must_have "$runtime" "$binary"
for unit in housebrain-periodic.timer housebrain-periodic.service housebrain-periodic-failure@.service; do
  must_have "$runtime" "$unit_dir/$unit"
done
plugins=$(deb_files "$runtime" | grep -c "^$plugins_dir/[^/]*\.so$" || true)
if [ "$plugins" -gt 0 ]; then
  echo "ok: $(basename "$runtime") has $plugins plugins in $plugins_dir"
else
  fail "$(basename "$runtime") has no plugin in $plugins_dir"
fi
# The example manifest, where the installed service reads it, kept across upgrades (conffile).
must_have "$runtime" "$config_dir/manifest.toml"
if dpkg-deb -I "$runtime" conffiles 2>/dev/null | grep -qxF "$config_dir/manifest.toml"; then
  echo "ok: $config_dir/manifest.toml is a conffile"
else
  fail "$config_dir/manifest.toml is not listed in conffiles"
fi
must_have "$dev" "$include_dir/housebrain/plugin.h"
must_have "$dev" "$include_dir/housebrain/plugin.hpp"

# Maintainer scripts: present, executable, byte-identical to the sources, valid sh.
for script in postinst prerm postrm; do
  if ! dpkg-deb -I "$runtime" "$script" >"$work/$script" 2>/dev/null; then
    fail "$(basename "$runtime") has no $script"
  elif ! cmp -s "$work/$script" "$packaging/$script"; then
    fail "$script in the package differs from $packaging/$script"
  elif ! dpkg-deb -I "$runtime" | grep -Eq "\*[[:space:]]+$script[[:space:]]"; then
    fail "$script is not executable in the package"
  elif ! sh -n "$work/$script"; then
    fail "$script is not valid sh"
  else
    echo "ok: $script"
  fi
done

depends=$(dpkg-deb -f "$runtime" Depends)
case $depends in
  *libc6*) echo "ok: Depends: $depends" ;;
  *) fail "runtime Depends lacks libc6: '$depends'" ;;
esac
exit $status
