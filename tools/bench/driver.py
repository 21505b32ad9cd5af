#!/usr/bin/env python3
"""The benchmark driver behind tools/bench/run; see tools/bench/RESULTS.md for what it measures.

    driver.py --build BUILD_DIR [--quick] [--reps R] [--json FILE]

Runs, interleaved and R times each, for N = 50 and N = 500 no-op plugins:
  host-run   housebrain-periodic --config MANIFEST     (manifest, SQLite state, logging, isolation)
  floor      bench_floor PLUGIN...                     (fork + dlopen + entry + one value + reap)
  django     manage.py periodic_tasks                  (N = 50 only: the system being replaced)
  host-list  housebrain-periodic --config MANIFEST --list
and the output flood: one plugin writing 100 MiB to stdout under the host, next to the host
running one no-op plugin (for the RSS growth) and bench_floor --drain (for the throughput).

For every run: CPU time (user + system of the process and of the descendants it reaped, from
wait4), wall time, and the process's own peak RSS (VmHWM at exit, written by the preloaded
bench_hwm.so; see hwm.c for why). Prints a markdown report; medians over the repetitions.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate  # noqa: E402

MIB = 1024 * 1024


class BenchError(Exception):
    pass


class Runner:
    def __init__(self, build, work):
        self.host = os.path.join(build, "host", "housebrain-periodic")
        bench = os.path.join(build, "tools", "bench")
        self.floor = os.path.join(bench, "bench_floor")
        self.noop = os.path.join(bench, "bench_noop.so")
        self.hwm = os.path.join(bench, "bench_hwm.so")
        self.flood = os.path.join(build, "tests", "fixtures", "plugins", "flood.so")
        for f in (self.host, self.floor, self.noop, self.hwm, self.flood):
            if not os.path.exists(f):
                raise BenchError(f"{f} is missing: build the targets housebrain-periodic bench_tools flood")
        self.work = work
        self.python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

    def measure(self, argv, cwd=None, check=None):
        """Runs argv; returns dict(cpu, wall, hwm_kib, maxrss_kib, out, err). `check(rc, out, err)`
        raises when the run did not do what it should (a broken run must not look fast)."""
        out_path = os.path.join(self.work, "last.out")
        err_path = os.path.join(self.work, "last.err")
        hwm_path = os.path.join(self.work, "last.hwm")
        if os.path.exists(hwm_path):
            os.unlink(hwm_path)
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)
        env["LD_PRELOAD"] = self.hwm
        env["HB_BENCH_HWM_OUT"] = hwm_path
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            _, status, ru = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
        with open(out_path, "r", encoding="utf-8", errors="replace") as f:
            out_text = f.read()
        with open(err_path, "r", encoding="utf-8", errors="replace") as f:
            err_text = f.read()
        if check:
            check(proc.returncode, out_text, err_text)
        elif proc.returncode != 0:
            raise BenchError(f"{argv[0]} exited with {proc.returncode}: {err_text[-2000:]}")
        hwm = self_cpu = None
        if os.path.exists(hwm_path):
            with open(hwm_path, encoding="ascii") as f:
                text = f.read()
            m = re.search(r"VmHWM:\s+(\d+) kB", text)
            hwm = int(m.group(1)) if m else None
            m = re.search(r"SelfCPU: (\d+)", text)
            self_cpu = int(m.group(1)) / 1e6 if m else None
        return {"cpu": ru.ru_utime + ru.ru_stime, "self_cpu": self_cpu, "wall": wall, "hwm_kib": hwm,
                "maxrss_kib": ru.ru_maxrss}


def fill_history(state_dir, per_task):
    """Brings the state database to the steady state of a timer firing every minute: each task's
    history at the manifest's history_limit (default 100), by copying its existing rows. Returns
    a note for the report. Only the table and column names of the history are assumed; if they
    changed, the run goes on with the history it has and says so."""
    path = os.path.join(state_dir, "state.sqlite3")
    try:
        db = sqlite3.connect(path)
        cols = [r[1] for r in db.execute("PRAGMA table_info(history)") if not r[5]]  # all but the key
        if "task" not in cols:
            return "history not filled (no history table with a task column): state as left by the warm-up run"
        names = ", ".join(cols)
        while True:
            short = db.execute("SELECT count(*) FROM (SELECT task FROM history GROUP BY task HAVING count(*) < ?)",
                               (per_task,)).fetchone()[0]
            if short == 0:
                break
            db.execute(f"INSERT INTO history ({names}) SELECT {names} FROM history WHERE task IN "
                       "(SELECT task FROM history GROUP BY task HAVING count(*) < ?)", (per_task,))
        db.execute("DELETE FROM history WHERE rowid IN (SELECT rowid FROM (SELECT rowid, row_number() OVER "
                   "(PARTITION BY task ORDER BY rowid DESC) AS rn FROM history) WHERE rn > ?)", (per_task,))
        db.commit()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        return f"history filled to {per_task} rows per task before the measured runs (steady state)"
    except sqlite3.Error as e:
        return f"history not filled ({e}): state as left by the warm-up run"


def check_host_run(n):
    def check(rc, out, err):
        if rc != 0 or not re.search(rf"\b{n} task\(s\) ran, {n} ok, 0 not ok", err):
            raise BenchError(f"host run of {n} plugins did not run them all ok (exit {rc}): {err[-2000:]}")
    return check


def check_list(n):
    def check(rc, out, err):
        if rc != 0 or out.count("bench_noop 1.0") != n:
            raise BenchError(f"--list over {n} plugins did not list them all (exit {rc}): {err[-2000:]}")
    return check


def check_floor(n):
    def check(rc, out, err):
        if rc != 0 or out.split() != [str(n), "0"]:
            raise BenchError(f"floor over {n} plugins failed (exit {rc}): {out} {err[-2000:]}")
    return check


def check_drain(nbytes):
    def check(rc, out, err):
        if rc != 0 or out.strip() != str(nbytes):
            raise BenchError(f"floor --drain read {out.strip()} bytes, not {nbytes} (exit {rc}): {err[-2000:]}")
    return check


def check_django(n):
    def check(rc, out, err):
        if rc != 0 or f"{n} task(s) ran, 0 failed" not in err:
            raise BenchError(f"Django periodic_tasks failed (exit {rc}): {err[-2000:]}")
    return check


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            kb = int(f.readline().split()[1])
            mem = f", {kb / MIB:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    load = os.getloadavg()
    return (f"{os.cpu_count()} CPUs ({model}){mem}, Linux {platform.release()}, "
            f"load average at start {load[0]:.2f}")


def git_commit(top):
    """HEAD, and whether the host or the plugin API had uncommitted changes (the build has them)."""
    try:
        head = subprocess.run(["git", "-C", top, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", top, "status", "--porcelain", "--", "host", "plugin-api"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + (" with uncommitted changes in host/ or plugin-api/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def med(samples, key):
    vals = [s[key] for s in samples if s.get(key) is not None]
    return statistics.median(vals) if vals else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="CMake build directory")
    ap.add_argument("--quick", action="store_true", help="small N, one repetition: checks the harness works")
    ap.add_argument("--reps", type=int, help="repetitions of every case (default 5, --quick 1)")
    ap.add_argument("--json", help="also write every sample to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--fresh-state", action="store_true",
                    help="do not fill the history to 100 rows per task (state as after one run)")
    args = ap.parse_args()

    sizes = (5, 50) if args.quick else (50, 500)
    small, large = sizes
    reps = args.reps or (1 if args.quick else 5)
    flood_mib = 10 if args.quick else 100
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    work = tempfile.mkdtemp(prefix="hb-bench-")
    try:
        r = Runner(os.path.abspath(args.build), work)
        cases = []  # (label, argv, cwd, check)
        manifests = {}
        for n in sizes:
            manifests[n] = generate.make_plugins(r.noop, n, os.path.join(work, f"n{n}"))
            plugins = [os.path.join(work, f"n{n}", "plugins", name + ".so") for name in generate.plugin_names(n)]
            cases.append((f"host-run/{n}", [r.host, "--config", manifests[n]], None, check_host_run(n)))
            cases.append((f"floor/{n}", [r.floor] + plugins, None, check_floor(n)))
            cases.append((f"host-list/{n}", [r.host, "--config", manifests[n], "--list"], None, check_list(n)))
        manage = generate.make_django(small, os.path.join(work, "django"))
        cases.append((f"django/{small}", [r.python, manage, "periodic_tasks"], os.path.dirname(manage),
                      check_django(small)))
        # The flood: one plugin writing flood_mib MiB, and the same host with one no-op plugin.
        fdir = os.path.join(work, "flood")
        os.makedirs(os.path.join(fdir, "plugins"))
        os.chmod(fdir, 0o755)
        shutil.copyfile(r.flood, os.path.join(fdir, "plugins", "flood.so"))
        shutil.copyfile(r.noop, os.path.join(fdir, "plugins", "noop.so"))
        for f in ("flood.so", "noop.so"):
            os.chmod(os.path.join(fdir, "plugins", f), 0o644)
        flood_manifest = os.path.join(fdir, "flood.toml")
        generate.write_manifest(flood_manifest, os.path.join(fdir, "plugins"), os.path.join(fdir, "state-flood"),
                                [("flood", "flood.so", {"mebibytes": flood_mib})])
        one_manifest = os.path.join(fdir, "one.toml")
        generate.write_manifest(one_manifest, os.path.join(fdir, "plugins"), os.path.join(fdir, "state-one"),
                                [("noop", "noop.so", None)])
        cases.append(("host-flood", [r.host, "--config", flood_manifest, "--run-task", "flood"], None,
                      check_host_run(1)))
        cases.append(("host-one", [r.host, "--config", one_manifest, "--run-task", "noop"], None, check_host_run(1)))
        # --drain runs the fixture with stub services: config_int finds nothing, so it writes its
        # default of 100 MiB.
        cases.append(("floor-drain", [r.floor, "--drain", os.path.join(fdir, "plugins", "flood.so")], None,
                      check_drain(100 * MIB)))

        print(f"housebrain-periodic benchmark: N = {small} and {large}, {reps} repetition(s), interleaved",
              file=sys.stderr)
        started = datetime.datetime.now(datetime.timezone.utc)
        samples = {label: [] for label, *_ in cases}
        # One warm-up round (state database created, page cache filled), not counted; then the
        # history brought to what a host that has run for a while keeps.
        for label, argv, cwd, check in cases:
            r.measure(argv, cwd, check)
        notes = []
        if not args.fresh_state:
            for n in sizes:
                notes.append(f"N = {n}: " + fill_history(os.path.join(work, f"n{n}", "state"), 100))
        for rep in range(reps):
            for label, argv, cwd, check in cases:
                samples[label].append(r.measure(argv, cwd, check))
            print(f"  repetition {rep + 1}/{reps} done", file=sys.stderr)

        report = render(samples, sizes, reps, flood_mib, started, top, args.quick, notes)
        print(report)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump({"sizes": sizes, "reps": reps, "flood_mib": flood_mib, "samples": samples}, f, indent=1)
    except BenchError as e:
        print(f"benchmark failed: {e}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def fmt_s(v):
    return "n/a" if v is None else f"{v * 1000:.1f} ms"


def fmt_kib(v):
    return "n/a" if v is None else f"{v / 1024:.2f} MiB"


def fmt_x(v):
    return "n/a" if v is None else f"{v:.2f}x"


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def render(samples, sizes, reps, flood_mib, started, top, quick, notes):
    small, large = sizes
    m = {label: {k: med(s, k) for k in ("cpu", "self_cpu", "wall", "hwm_kib", "maxrss_kib")}
         for label, s in samples.items()}
    out = [f"Measured {started:%Y-%m-%d %H:%M} UTC on {machine()}; commit {git_commit(top)}; "
           f"medians of {reps} interleaved run(s)" + (" (--quick: small N, not comparable)" if quick else "") + ".",
           "",
           "| case | CPU (user+sys, with children) | CPU range (min-max) | of which the process itself | wall | "
           "peak RSS of the process itself | CPU per task |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for label in samples:
        n = int(label.split("/")[1]) if "/" in label else None
        per = fmt_s(m[label]["cpu"] / n) if n else ""
        cpus = [x["cpu"] for x in samples[label]]
        spread = f"{min(cpus) * 1000:.0f}-{max(cpus) * 1000:.0f} ms"
        out.append(f"| {label} | {fmt_s(m[label]['cpu'])} | {spread} | {fmt_s(m[label]['self_cpu'])} | "
                   f"{fmt_s(m[label]['wall'])} | "
                   f"{fmt_kib(m[label]['hwm_kib'])} | {per} |")

    def cpu(label):
        return m[label]["cpu"]

    per_small = ratio(cpu(f"host-run/{small}"), small)
    per_large = ratio(cpu(f"host-run/{large}"), large)
    growth = None
    if m["host-flood"]["hwm_kib"] is not None and m["host-one"]["hwm_kib"] is not None:
        growth = m["host-flood"]["hwm_kib"] - m["host-one"]["hwm_kib"]
    thr_host = ratio(flood_mib, m["host-flood"]["wall"])
    thr_floor = ratio(100, m["floor-drain"]["wall"])
    rows = [
        (f"host run / floor, CPU, N = {small}", ratio(cpu(f"host-run/{small}"), cpu(f"floor/{small}")), 1.3, "x"),
        (f"host run / floor, CPU, N = {large}", ratio(cpu(f"host-run/{large}"), cpu(f"floor/{large}")), 1.3, "x"),
        (f"peak RSS of the host, run of N = {large}", m[f"host-run/{large}"]["hwm_kib"], 8 * 1024, "kib"),
        (f"CPU per task at N = {large} / per task at N = {small}", ratio(per_large, per_small), 1.2, "x"),
        (f"--list / floor, CPU, N = {large}", ratio(cpu(f"host-list/{large}"), cpu(f"floor/{large}")), 1.5, "x"),
        (f"--list / floor, CPU, N = {small}", ratio(cpu(f"host-list/{small}"), cpu(f"floor/{small}")), None, "x"),
        (f"host RSS growth draining {flood_mib} MiB of output", growth, 2 * 1024, "kib<"),
        (f"host run / Django, CPU, N = {small}", ratio(cpu(f"host-run/{small}"), cpu(f"django/{small}")), None, "x"),
        (f"host run / Django, wall, N = {small}", ratio(m[f"host-run/{small}"]["wall"], m[f"django/{small}"]["wall"]),
         None, "x"),
        (f"host run / floor, wall, N = {large}",
         ratio(m[f"host-run/{large}"]["wall"], m[f"floor/{large}"]["wall"]), None, "x"),
    ]
    out += ["", "| ratio | measured | target | met |", "|---|---:|---:|:---:|"]
    for name, value, target, unit in rows:
        if unit == "x":
            shown, tshown = fmt_x(value), (f"<= {target}x" if target else "-")
        else:
            shown, tshown = fmt_kib(value), (f"{'<' if unit == 'kib<' else '<='} {fmt_kib(target)}" if target else "-")
        met = ""
        if target is not None and value is not None:
            met = "yes" if (value < target if unit == "kib<" else value <= target) else "**no**"
        out.append(f"| {name} | {shown} | {tshown} | {met} |")
    out += ["", f"Output flood: the host drained {flood_mib} MiB at "
                f"{'n/a' if thr_host is None else f'{thr_host:.0f} MiB/s'} (whole run, wall), "
                f"bench_floor --drain 100 MiB at {'n/a' if thr_floor is None else f'{thr_floor:.0f} MiB/s'}; "
                f"host peak RSS {fmt_kib(m['host-flood']['hwm_kib'])} with the flood, "
                f"{fmt_kib(m['host-one']['hwm_kib'])} running one no-op plugin."]
    if notes:
        out += ["", "State: " + "; ".join(notes) + "."]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
