#!/bin/sh
# Boots the machine's own systemd as PID 1 of a throw-away container: fresh mount, PID, UTS, IPC,
# network and cgroup namespaces over an overlay of / whose upper layer (on a tmpfs) is a copy of
# a staging tree. Nothing written inside reaches the real file system.
#
#   container.sh start WORK STAGE UNIT   boot; prints the PID of the container's PID 1
#   container.sh run WORK CMD...         run a command inside (all namespaces, container root)
#   container.sh stop WORK               systemctl poweroff, then make sure nothing is left
#
# WORK is a scratch directory owned by the caller; state (PIDs, cgroup, console log) lives there.
# Exit status 77 from start: this machine cannot host the container (reason on stderr).
set -eu

skip() { echo "SKIP: $*" >&2; exit 77; }
die() { echo "container.sh: $*" >&2; exit 1; }

# --- runs as PID 1 of the new PID namespace, before systemd -----------------------------------
inner() {
  work=$1 stage=$2 unit=$3
  layers=$work/layers
  mkdir -p "$layers"
  # tmpfs for the overlay's upper/work dirs: an upper dir inside the lower (/) is refused, and
  # everything written while the container runs vanishes with this mount namespace.
  mount -t tmpfs -o mode=0755 hb-layers "$layers"
  mkdir -p "$layers/upper" "$layers/work" "$layers/root"
  # Copy the staging tree into the upper layer. On a merged-/usr system /lib, /bin... are symlinks
  # into /usr; a real directory of the same name in the upper layer would hide them, so their
  # contents go to where the symlinks point.
  for entry in "$stage"/* "$stage"/.[!.]*; do
    [ -e "$entry" ] || continue
    name=${entry##*/}
    if [ -L "/$name" ] && [ -d "$entry" ]; then
      dest=$layers/upper$(readlink -f "/$name")
      mkdir -p "$dest"
      cp -a "$entry/." "$dest/"
    else
      cp -a "$entry" "$layers/upper/"
    fi
  done
  root=$layers/root
  mount -t overlay hb-root -o "lowerdir=/,upperdir=$layers/upper,workdir=$layers/work" "$root"

  # API file systems, all fresh instances (not bind mounts of the host's).
  mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
  # Kernel-global knobs stay the host's: /proc/sys and sysrq read-only (as systemd-nspawn does),
  # so systemd-sysctl and friends inside skip themselves.
  for p in sys sysrq-trigger; do
    [ -e "$root/proc/$p" ] || continue
    mount --bind "$root/proc/$p" "$root/proc/$p"
    mount -o remount,bind,ro "$root/proc/$p"
  done
  mount -t sysfs -o nosuid,nodev,noexec,ro sysfs "$root/sys"
  mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$root/sys/fs/cgroup"
  mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs "$root/run"
  mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$root/tmp"
  # A minimal /dev like systemd-nspawn's: a tmpfs with the pseudo devices bound from the host,
  # its own devpts, and a console that is a log file the caller can read.
  mount -t tmpfs -o nosuid,mode=0755 tmpfs "$root/dev"
  for d in null zero full random urandom tty; do
    touch "$root/dev/$d"
    mount --bind "/dev/$d" "$root/dev/$d"
  done
  mkdir -p "$root/dev/pts" "$root/dev/shm"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts"
  ln -s pts/ptmx "$root/dev/ptmx"
  mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$root/dev/shm"
  touch "$root/dev/console"
  mount --bind "$work/console.log" "$root/dev/console"
  ln -s /proc/self/fd "$root/dev/fd"
  ln -s /proc/self/fd/0 "$root/dev/stdin"
  ln -s /proc/self/fd/1 "$root/dev/stdout"
  ln -s /proc/self/fd/2 "$root/dev/stderr"

  hostname hb-e2e
  cd "$root"
  mkdir -p .hb-oldroot
  pivot_root . .hb-oldroot
  umount -l /.hb-oldroot
  rmdir /.hb-oldroot
  # Without the capabilities that reach the host's kernel (modules, clock, raw I/O), units like
  # systemd-modules-load skip themselves (ConditionCapability=). The console is a plain file, so
  # systemd falls back to /dev/null for its own output: read the container's journal instead.
  exec setpriv --bounding-set=-sys_module,-sys_time,-sys_rawio,-wake_alarm,-mac_admin,-mac_override \
    env -i container=housebrain-e2e PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    /lib/systemd/systemd --unit="$unit" --show-status=no </dev/null >/dev/console 2>&1
}

# The cgroup2 hierarchy and our place in it, so the container gets a cgroup of its own.
cgroup_base() {
  mnt=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
  [ -n "$mnt" ] || return 1
  rel=$(sed -n 's/^0:://p' /proc/self/cgroup)
  echo "$mnt${rel%/}"
}

container_pid() {
  # unshare --fork: its only child is the container's PID 1.
  cat "/proc/$(cat "$1/unshare.pid")/task/$(cat "$1/unshare.pid")/children" 2>/dev/null | awk '{ print $1 }'
}

start() {
  work=$1 stage=$2 unit=$3
  [ "$(id -u)" = 0 ] || skip "needs root to create namespaces and mounts"
  [ -x /lib/systemd/systemd ] || skip "no /lib/systemd/systemd"
  command -v unshare >/dev/null && command -v nsenter >/dev/null || skip "no unshare/nsenter"
  grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
  grep -qw overlay /proc/filesystems || skip "kernel has no overlay file system"
  grep -qw cgroup2 /proc/filesystems || skip "kernel has no cgroup2"
  base=$(cgroup_base) || skip "no cgroup2 hierarchy mounted"
  mkdir -p "$work"
  cg=$base/hb-e2e.$$
  mkdir "$cg" 2>/dev/null || skip "cannot create a cgroup under $base"
  echo "$cg" >"$work/cgroup"
  # Until the container runs, a failure removes the cgroup again (stop cleans up after that).
  trap 'rmdir "$cg" 2>/dev/null || true' EXIT
  : >"$work/console.log"
  # Probe: can this machine create the namespaces and an overlay of / at all? (Not inside an
  # unprivileged or restricted container, for instance.)
  mkdir -p "$work/probe"
  if ! unshare --mount --pid --fork --uts --ipc --net --cgroup --propagation private sh -c '
      mount -t tmpfs probe "$1" && mkdir "$1/u" "$1/w" "$1/r" &&
      mount -t overlay probe -o "lowerdir=/,upperdir=$1/u,workdir=$1/w" "$1/r" &&
      test -x "$1/r/lib/systemd/systemd"' sh "$work/probe" 2>"$work/probe.err"; then
    skip "cannot create namespaces and an overlay of /: $(cat "$work/probe.err")"
  fi
  rmdir "$work/probe"
  self=$(readlink -f "$0")
  # Enter the cgroup first so that unshare --cgroup makes it the container's cgroup root.
  sh -c 'echo $$ >"$1/cgroup.procs" && exec unshare --mount --pid --fork --uts --ipc \
      --net --cgroup --propagation private --kill-child=SIGKILL "$2" inner "$3" "$4" "$5"' \
      sh "$cg" "$self" "$work" "$stage" "$unit" >"$work/inner.log" 2>&1 </dev/null &
  echo $! >"$work/unshare.pid"
  i=0
  while :; do
    pid=$(container_pid "$work")
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ]; then
      break
    fi
    if ! kill -0 "$(cat "$work/unshare.pid")" 2>/dev/null; then
      cat "$work/inner.log" >&2
      die "container exited during setup"
    fi
    i=$((i + 1))
    [ $i -lt 300 ] || die "systemd did not start: $(cat "$work/inner.log")"
    sleep 0.1
  done
  echo "$pid" >"$work/pid1"
  trap - EXIT
  # Wait for the boot to finish (its bus is up once is-system-running answers at all), so that
  # callers see /run/systemd/system, a working systemctl and the target's units started.
  i=0
  while :; do
    state=$(run "$work" systemctl is-system-running --wait 2>/dev/null) || true
    case $state in
      running|degraded) break ;;
    esac
    i=$((i + 1))
    [ $i -lt 300 ] || die "the container's systemd did not finish booting (state: ${state:-no answer})"
    sleep 0.2
  done
  echo "$pid"
}

run() {
  work=$1; shift
  nsenter --target "$(cat "$work/pid1")" --all -- "$@"
}

# Removes a cgroup and the sub-cgroups systemd made in it, deepest first.
remove_cgroup() {
  [ -d "$1" ] || return 0
  find "$1" -depth -type d -exec rmdir {} + 2>/dev/null || true
  [ ! -d "$1" ]
}

stop() {
  work=$1
  upid=$(cat "$work/unshare.pid" 2>/dev/null || true)
  cg=$(cat "$work/cgroup" 2>/dev/null || true)
  if [ -n "$upid" ] && kill -0 "$upid" 2>/dev/null; then
    run "$work" systemctl poweroff >/dev/null 2>&1 || true
    i=0
    while kill -0 "$upid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    if kill -0 "$upid" 2>/dev/null; then
      echo "container.sh: poweroff did not finish in 30 s; killing the container" >&2
      # Our own tree only: the unshare process (its child dies with it: --kill-child), then
      # anything left in the container's cgroup.
      kill -KILL "$upid" 2>/dev/null || true
      [ -z "$cg" ] || echo 1 >"$cg/cgroup.kill" 2>/dev/null || true
    fi
    i=0
    while kill -0 "$upid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  fi
  if [ -n "$cg" ]; then
    if [ -f "$cg/cgroup.procs" ] && [ -n "$(cat "$cg/cgroup.procs")" ]; then
      echo 1 >"$cg/cgroup.kill" 2>/dev/null || true
      sleep 0.5
    fi
    left=$(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | tr '\n' ' ')
    remove_cgroup "$cg" || die "cgroup $cg not removed (processes: $left)"
    [ -z "$left" ] || die "processes were left behind: $left"
  fi
}

cmd=${1:-}; [ $# -gt 0 ] && shift
case $cmd in
  inner) inner "$@" ;;
  start) start "$@" ;;
  run) run "$@" ;;
  stop) stop "$@" ;;
  *) die "usage: container.sh start|run|stop WORK ..." ;;
esac
