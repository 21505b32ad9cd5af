#!/usr/bin/env python3
"""End to end: the installed host, run by its own timer under a real systemd.

Boots this machine's systemd as PID 1 of a throw-away container (container.sh) whose root is an
overlay of / with the runtime component installed on top (`cmake --install --component runtime`,
so the units, binary and helper are exactly what a user installs), plus an e2e manifest, two
fixture plugins, a drop-in that shortens the timer to every PERIOD seconds, and a target that
wants the timer. Up to step 6 nothing but the timer starts the service. Then:

  1. two timer-triggered runs succeed and run the manifest's tasks in manifest order, and put
     nothing at priority warning or above in the journal;
  2. a .so copied into the plugins directory between ticks runs, as a drop-in, on the next tick;
  3. a plugin that segfaults is contained: the other tasks of that run still succeed, the crash
     is in the journal at priority err, the unit fails and its OnFailure= handler records it;
  4. `journalctl -p warning -u housebrain-periodic` shows the failures, nothing from healthy ticks;
  5. a task's grandchild that left its process group with setsid() does not outlive the run;
  6. `systemctl stop` during a task that ignores SIGTERM: the host (alone signalled, KillMode=mixed)
     stops the task, records it as interrupted and exits before systemd's stop timeout, leaving
     nothing in the unit's cgroup;
  7. the installed example drop-in (django-access.conf) lets tasks write to /home/admin/housebrain
     as user admin, which the sandbox refuses without it: an ok_marker task, and the shipped exec
     plugin running `python3 manage.py migrate` in a real Django project;
  8. the container powers off and leaves no process behind.

Exit status: 0 pass, 1 fail, 77 skip (this machine cannot host the container; reason printed).
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
CONTAINER = os.path.join(HERE, "container.sh")
SERVICE = "housebrain-periodic.service"
TIMER = "housebrain-periodic.timer"
FAILURE_UNIT = "housebrain-periodic-failure@housebrain-periodic.service.service"
CONF_DIR = "/etc/housebrain-periodic"  # --conf-dir: where the installed unit makes the host look
PLUGINS_DIR = CONF_DIR + "/plugins"
STATE_DIR = "/var/lib/housebrain-periodic"
FAILURES_LOG = "/var/log/housebrain-periodic/failures.log"
TARGET = "hb-e2e.target"
MANIFEST_TASKS = ["first", "second"]
TASK_LINE = re.compile(r"task '([^']+)' ([a-z-]+)")


class Container:
    def __init__(self, work):
        self.work = work
        self.started = False

    def start(self, stage):
        r = subprocess.run(["sh", CONTAINER, "start", self.work, stage, TARGET],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode == SKIP:
            print(r.stderr.strip())
            sys.exit(SKIP)
        if r.returncode != 0:
            raise RuntimeError("container did not start:\n" + r.stderr)
        self.started = True
        return r.stdout.strip()

    def run(self, *cmd, check=True):
        r = subprocess.run(["sh", CONTAINER, "run", self.work, *cmd],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
        return r

    def stop(self):
        if not self.started:
            return True
        r = subprocess.run(["sh", CONTAINER, "stop", self.work],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.started = False
        if r.stdout.strip():
            print(r.stdout.strip())
        return r.returncode == 0

    def journal(self, *args):
        out = self.run("journalctl", "--no-pager", "-o", "json", *args).stdout
        entries = []
        for line in out.splitlines():
            if not line.strip():
                continue
            e = json.loads(line)
            msg = e.get("MESSAGE", "")
            if isinstance(msg, list):  # non-UTF-8 messages come as byte arrays
                msg = bytes(msg).decode("utf-8", "replace")
            e["MESSAGE"] = msg or ""
            entries.append(e)
        return entries


def invocation(e):
    # Lines from the service's processes carry _SYSTEMD_INVOCATION_ID; systemd's own messages
    # about the unit carry INVOCATION_ID.
    return e.get("_SYSTEMD_INVOCATION_ID") or e.get("INVOCATION_ID")


class Run:
    """One activation of the service, from its journal entries."""

    def __init__(self, inv):
        self.inv = inv
        self.entries = []

    @property
    def start(self):
        return min(int(e["__REALTIME_TIMESTAMP"]) for e in self.entries) / 1e6

    @property
    def result(self):
        # systemd's "Finished"/"Failed to start" message carries JOB_RESULT.
        for e in self.entries:
            if e.get("JOB_RESULT"):
                return e["JOB_RESULT"]
        return None

    def host_lines(self):
        return [e for e in self.entries if e.get("_PID") != "1"]

    def tasks(self):
        """Task names in the order the host reported their outcomes, with the outcome word."""
        seen = []
        for e in self.host_lines():
            m = TASK_LINE.search(e["MESSAGE"])
            if m and m.group(1) not in [t for t, _ in seen]:
                seen.append((m.group(1), m.group(2)))
        return seen

    def loud(self):
        return [e for e in self.entries if int(e.get("PRIORITY", 6)) <= 4]


def runs(c):
    by_inv = {}
    for e in c.journal("-u", SERVICE):
        inv = invocation(e)
        if inv:
            by_inv.setdefault(inv, Run(inv)).entries.append(e)
    return sorted(by_inv.values(), key=lambda r: r.start)


def wait_for_runs(c, count, after, timeout):
    """Completed runs that started after `after`, once there are at least `count` of them."""
    deadline = time.monotonic() + timeout
    while True:
        done = [r for r in runs(c) if r.result and r.start > after]
        if len(done) >= count or time.monotonic() > deadline:
            return done
        time.sleep(1)


def describe(run):
    return f"run {run.inv[:8]} ({run.result}): " + ", ".join(f"{t} {o}" for t, o in run.tasks())


class Checks:
    def __init__(self):
        self.failed = 0

    def check(self, ok, what, detail=""):
        print(("ok: " if ok else "FAIL: ") + what)
        if not ok:
            self.failed += 1
            if detail:
                print("  " + detail.replace("\n", "\n  "))
        return ok


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def stage_tree(args, stage):
    subprocess.run(["sh", os.path.join(HERE, "stage.sh"), args.cmake, args.build, stage], check=True)
    write(stage + CONF_DIR + "/manifest.toml", f"""\
# e2e manifest: two tasks of the ok_marker fixture, in this order. Drop-ins follow them.
[settings]
plugins_dir = "plugins"
# debug: the host logs each task's outcome, which is how the test sees the order.
log_level = "debug"
# Long enough that the hanging task of step 6 is still running when the test stops the unit.
default_timeout = "50s"

[[task]]
name = "{MANIFEST_TASKS[0]}"
plugin = "ok_marker"

[[task]]
name = "{MANIFEST_TASKS[1]}"
plugin = "ok_marker"
""")
    os.makedirs(stage + PLUGINS_DIR, exist_ok=True)
    os.chmod(stage + CONF_DIR, 0o755)
    os.chmod(stage + PLUGINS_DIR, 0o755)
    shutil.copyfile(args.ok_plugin, stage + PLUGINS_DIR + "/ok_marker.so")
    os.chmod(stage + PLUGINS_DIR + "/ok_marker.so", 0o644)
    # Files to drop in later, kept outside the plugins directory until then.
    shutil.copyfile(args.ok_plugin, stage + CONF_DIR + "/late.so.e2e")
    shutil.copyfile(args.crash_plugin, stage + CONF_DIR + "/crash_segv.so.e2e")
    shutil.copyfile(args.linger_plugin, stage + CONF_DIR + "/setsid_linger.so.e2e")
    shutil.copyfile(args.hang_plugin, stage + CONF_DIR + "/zz_hang.so.e2e")
    # The admin drop-in example as installed (under the doc directory of the staged tree).
    found = glob.glob(stage + "/**/examples/systemd/django-access.conf", recursive=True)
    if len(found) != 1:
        raise RuntimeError(f"want one installed django-access.conf in the staged tree, found {found}")
    args.django_dropin = found[0][len(stage):]
    # The shipped exec plugin, as installed, for a real `python3 manage.py migrate`.
    found = glob.glob(stage + "/**/housebrain-periodic/plugins/exec.so", recursive=True)
    if len(found) != 1:
        raise RuntimeError(f"want one installed exec.so in the staged tree, found {found}")
    shutil.copyfile(found[0], stage + CONF_DIR + "/exec.so.e2e")
    write(stage + f"/etc/systemd/system/{TIMER}.d/e2e.conf", f"""\
[Timer]
OnCalendar=
OnCalendar=*:*:0/{args.period}
""")
    write(stage + f"/etc/systemd/system/{TARGET}", f"""\
[Unit]
Description=housebrain-periodic end-to-end test
Wants=systemd-journald.service {TIMER}
After=systemd-journald.service
""")


def drop_in(c, name):
    """Moves a staged .so into the plugins directory (a rename: never seen half-written)."""
    c.run("mv", f"{CONF_DIR}/{name}.e2e", f"{PLUGINS_DIR}/{name}")
    return time.time()


def scenario(c, args, t):
    period = args.period
    wait = period * 4 + 20

    # 1. Healthy ticks.
    healthy = wait_for_runs(c, 2, 0, wait * 2)
    t.check(len(healthy) >= 2, f"{len(healthy)} timer-triggered runs completed (want >= 2)",
            c.run("systemctl", "status", "--no-pager", TIMER, SERVICE, check=False).stdout)
    for r in healthy:
        t.check(r.result == "done" and r.tasks() == [(n, "ok") for n in MANIFEST_TASKS],
                f"healthy {describe(r)}", "\n".join(e["MESSAGE"] for e in r.entries))
        t.check(not r.loud(), f"run {r.inv[:8]} logged nothing at warning or above",
                "\n".join(e["MESSAGE"] for e in r.loud()))

    # 2. A plugin dropped in between ticks runs on the next tick.
    t_late = drop_in(c, "late.so")
    late = wait_for_runs(c, 1, t_late, wait)
    if t.check(bool(late), "a run started after late.so was dropped in"):
        r = late[0]
        want = [(n, "ok") for n in MANIFEST_TASKS] + [("late", "ok")]
        t.check(r.result == "done" and r.tasks() == want, f"drop-in {describe(r)}",
                "\n".join(e["MESSAGE"] for e in r.entries))
        healthy.extend(late)

    # 3. A crashing plugin is contained.
    t_crash = drop_in(c, "crash_segv.so")
    crashed = wait_for_runs(c, 1, t_crash, wait)
    if t.check(bool(crashed), "a run started after crash_segv.so was dropped in"):
        r = crashed[0]
        tasks = dict(r.tasks())
        t.check(r.result == "failed", f"the unit failed: {describe(r)}")
        t.check(all(tasks.get(n) == "ok" for n in MANIFEST_TASKS + ["late"]),
                "the other tasks of that run succeeded", describe(r))
        errs = [e for e in r.host_lines()
                if int(e.get("PRIORITY", 6)) <= 3 and "crash_segv" in e["MESSAGE"]]
        t.check(bool(errs), "the crash is in the journal at priority err: "
                + (errs[0]["MESSAGE"] if errs else "(none)"),
                "\n".join(f"<{e.get('PRIORITY')}> {e['MESSAGE']}" for e in r.entries))

        # The OnFailure= handler ran for that very run.
        deadline = time.monotonic() + 30
        rec = []
        while not rec and time.monotonic() < deadline:
            rec = [e for e in c.journal("-u", FAILURE_UNIT)
                   if e.get("PRIORITY") == "3" and r.inv in e["MESSAGE"]]
            if not rec:
                time.sleep(1)
        t.check(bool(rec), f"OnFailure= handler logged at priority err: "
                + (rec[0]["MESSAGE"] if rec else "(nothing)"))
        log = c.run("cat", FAILURES_LOG, check=False).stdout
        t.check(r.inv in log, f"{FAILURES_LOG} records the failed run",
                log or "(missing or empty)")

    # 4. The warning-level journal of the unit: the failures, nothing from healthy ticks.
    warn = [e for e in c.journal("-p", "warning", "-u", SERVICE)]
    healthy_ids = {r.inv for r in healthy}
    from_healthy = [e for e in warn if invocation(e) in healthy_ids]
    t.check(bool(warn) and any("crash_segv" in e["MESSAGE"] for e in warn),
            f"journalctl -p warning -u housebrain-periodic shows the crash ({len(warn)} lines)")
    t.check(not from_healthy, "... and nothing from the healthy ticks",
            "\n".join(e["MESSAGE"] for e in from_healthy))
    print("--- journalctl -p warning -u housebrain-periodic")
    print(c.run("journalctl", "--no-pager", "-o", "short-iso", "-p", "warning", "-u", SERVICE,
                check=False).stdout.rstrip())
    print("--- journalctl -u " + FAILURE_UNIT)
    print(c.run("journalctl", "--no-pager", "-o", "short-iso", "-u", FAILURE_UNIT,
                check=False).stdout.rstrip())

    # 5. Nothing a task starts outlives its run, not even a setsid() grandchild.
    c.run("rm", f"{PLUGINS_DIR}/crash_segv.so")
    t_linger = drop_in(c, "setsid_linger.so")
    linger = wait_for_runs(c, 1, t_linger, wait)
    if t.check(bool(linger), "a run started after setsid_linger.so was dropped in"):
        r = linger[0]
        t.check(dict(r.tasks()).get("setsid_linger") == "ok", f"linger {describe(r)}")
        pid = c.run("cat", f"{STATE_DIR}/tasks/setsid_linger/grandchild.pid", check=False).stdout.strip()
        alive = c.run("test", "-d", f"/proc/{pid}", check=False).returncode == 0 if pid else None
        t.check(alive is False, f"the setsid() grandchild (pid {pid or '?'}) is gone after the run")

    # 6. systemctl stop while a task ignores SIGTERM.
    t_hang = drop_in(c, "zz_hang.so")
    deadline = time.monotonic() + wait
    running = None
    while running is None and time.monotonic() < deadline:
        # zz_hang runs last (drop-ins in file-name order): once setsid_linger is reported and the
        # run has not finished, zz_hang is the task in progress.
        for r in runs(c):
            if r.start > t_hang and not r.result and "setsid_linger" in dict(r.tasks()):
                running = r
        if running is None:
            time.sleep(0.5)
    if running is not None:
        # The task's process exists: the unit's cgroup holds the host and its child.
        cg = c.run("systemctl", "show", "-P", "ControlGroup", SERVICE, check=False).stdout.strip()
        while time.monotonic() < deadline:
            procs = c.run("cat", f"/sys/fs/cgroup{cg}/cgroup.procs", check=False).stdout.split()
            if len(procs) >= 2:
                break
            time.sleep(0.2)
    if t.check(running is not None, "a run is busy in the hanging task"):
        # No new tick may start a run behind the stop (the rest of the test starts runs by hand).
        c.run("systemctl", "stop", TIMER)
        time.sleep(0.5)
        stop = c.run("systemctl", "stop", SERVICE, check=False)
        t.check(stop.returncode == 0, "systemctl stop housebrain-periodic.service returned",
                stop.stderr)
        r = next((x for x in runs(c) if x.inv == running.inv), running)
        msgs = [(int(e.get("PRIORITY", 6)), e["MESSAGE"]) for e in r.entries]
        interrupted = [m for p, m in msgs if p == 4 and "task 'zz_hang' interrupted" in m]
        t.check(bool(interrupted), "the host recorded the task as interrupted at priority warning: "
                + (interrupted[0] if interrupted else "(nothing)"), "\n".join(m for _, m in msgs))
        t.check(any("stopped early on SIGTERM" in m for _, m in msgs),
                "the host logged its own early stop", "\n".join(m for _, m in msgs))
        forced = [m for _, m in msgs if "timed out" in m or "with signal SIGKILL" in m]
        t.check(not forced, "systemd never had to time out or SIGKILL anything", "\n".join(forced))
        cg = c.run("systemctl", "show", "-P", "ControlGroup", SERVICE, check=False).stdout.strip()
        procs = c.run("cat", f"/sys/fs/cgroup{cg}/cgroup.procs", check=False).stdout.split() if cg else []
        t.check(not procs, "nothing left in the unit's cgroup", " ".join(procs))
        result = c.run("systemctl", "show", "-P", "Result", SERVICE, check=False).stdout.strip()
        print(f"   (after the stop: Result={result}; " + "; ".join(
            m for _, m in msgs if "zz_hang" in m or "stopped early" in m or "Stopped" in m) + ")")

    # 7. The documented admin drop-in (examples/django-access.conf, as installed) lets tasks write
    #    to /home/admin/housebrain as the user admin; without it the sandbox keeps /home read-only.
    #    A real Django project there, migrated by the shipped exec plugin.
    project = "/home/admin/housebrain"
    c.run("rm", f"{PLUGINS_DIR}/zz_hang.so")
    c.run("useradd", "--create-home", "admin")
    # World-writable, so that only the sandbox's read-only /home can stop the first writes below.
    c.run("install", "-d", "-o", "admin", "-g", "admin", "-m", "0777", project)
    c.run("runuser", "-u", "admin", "--", "django-admin", "startproject", "housebrain", project)
    drop_in(c, "exec.so")
    c.run("sh", "-c", f"""cat >>{CONF_DIR}/manifest.toml <<'EOF'

[[task]]
name = "django"
plugin = "ok_marker"
[task.config]
marker = "{project}/marker"

[[task]]
name = "django-migrate"
plugin = "exec"
[task.config]
command = ["python3", "manage.py", "migrate", "--noinput"]
cwd = "{project}"
env = {{ PATH = "/usr/bin:/bin", DJANGO_SETTINGS_MODULE = "housebrain.settings" }}
EOF""")

    def manual_run():
        t0 = time.time()
        c.run("systemctl", "start", SERVICE, check=False)
        done = wait_for_runs(c, 1, t0, wait)
        return done[-1] if done else None

    def owner(path):
        return c.run("stat", "-c", "%U", path, check=False).stdout.strip()

    def marker_owner():
        return owner(f"{project}/marker")

    r = manual_run()
    # (ok_marker does not check its write, so the file is the evidence, not the outcome.)
    t.check(r is not None and "django" in dict(r.tasks()) and not marker_owner()
            and dict(r.tasks()).get("django-migrate") == "failed" and not owner(f"{project}/db.sqlite3"),
            "without the drop-in the sandbox keeps /home read-only (no marker, no database): "
            + (describe(r) if r else "(no run)"))
    if r is not None:
        why = [e["MESSAGE"] for e in r.host_lines() if "task 'django-migrate' failed" in e["MESSAGE"]]
        print("   (" + (why[0] if why else "no failure line") + ")")
    example = args.django_dropin
    c.run("install", "-D", "-m", "0644", example,
          f"/etc/systemd/system/{SERVICE}.d/{os.path.basename(example)}")
    c.run("systemctl", "daemon-reload")
    r = manual_run()
    m_owner = marker_owner()
    db_owner = owner(f"{project}/db.sqlite3")
    t.check(r is not None and r.result == "done" and dict(r.tasks()).get("django") == "ok"
            and m_owner == "admin",
            f"with {os.path.basename(example)} the task writes there as admin (owner: {m_owner or '-'}): "
            + (describe(r) if r else "(no run)"))
    t.check(r is not None and dict(r.tasks()).get("django-migrate") == "ok" and db_owner == "admin",
            f"... and `python3 manage.py migrate` (exec plugin) created db.sqlite3 (owner: {db_owner or '-'})")

    # The healthy tasks' own output: one marker line per run of the task.
    all_runs = [r for r in runs(c) if r.result]
    marker = c.run("cat", f"{STATE_DIR}/tasks/first/marker", check=False).stdout.splitlines()
    t.check(len(all_runs) <= len(marker) <= len(all_runs) + 1,
            f"task 'first' wrote {len(marker)} marker lines in {len(all_runs)} completed runs")


def main():
    global CONF_DIR, PLUGINS_DIR
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cmake", required=True)
    ap.add_argument("--build", required=True, help="build tree to install the runtime component from")
    ap.add_argument("--ok-plugin", required=True, help="ok_marker fixture .so")
    ap.add_argument("--crash-plugin", required=True, help="crash_segv fixture .so")
    ap.add_argument("--conf-dir", default=CONF_DIR,
                    help="directory of the manifest the installed service reads")
    ap.add_argument("--linger-plugin", required=True, help="setsid_linger fixture .so")
    ap.add_argument("--hang-plugin", required=True, help="hang fixture .so")
    ap.add_argument("--period", type=int, default=10, help="timer period in seconds (default 10)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args()
    CONF_DIR = args.conf_dir
    PLUGINS_DIR = CONF_DIR + "/plugins"

    if os.geteuid() != 0:
        print("SKIP: needs root to create namespaces and mounts")
        return SKIP
    work = tempfile.mkdtemp(prefix="hb-e2e.")
    c = Container(work)
    t = Checks()
    try:
        stage_tree(args, work + "/stage")
        pid = c.start(work + "/stage")
        print(f"container up: systemd PID {pid}; timer every {args.period}s")
        scenario(c, args, t)
    except Exception as e:  # report, then still power off
        t.check(False, f"scenario aborted: {e}")
        if c.started:
            print(c.run("journalctl", "--no-pager", "-b", "-n", "80", check=False).stdout)
    finally:
        t.check(c.stop(), "container powered off; no process left behind")
        if args.keep:
            print("scratch directory kept: " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{'FAILED' if t.failed else 'PASSED'}: {t.failed} check(s) failed")
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
