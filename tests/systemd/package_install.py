#!/usr/bin/env python3
"""The Debian packages' maintainer scripts, run by dpkg under a real systemd.

Boots this machine's systemd in a throw-away container (container.sh; nothing reaches the real
system, dpkg's database included) and, with the packages package_test.sh left in DEB_DIR:

  1. `dpkg -i` the runtime package: the timer is enabled and active (postinst, first install);
  2. the admin disables the timer, the package is installed again (an upgrade): it stays disabled;
  3. with the timer enabled and one run done (state created), `dpkg --purge`: the timer is stopped
     and disabled, the units are gone, and so is the state systemd created for the service;
  4. `dpkg -i` / `dpkg -r` the plugin-dev package: its header comes and goes;
  5. the container powers off and leaves no process behind.

Exit status: 0 pass, 1 fail, 77 skip (reason printed).
"""
import argparse
import glob
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import SKIP, TARGET, TIMER, SERVICE, Checks, Container, write  # noqa: E402

DEBS = "/var/tmp/hb-debs"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--debs", required=True, help="directory with the .deb files")
    ap.add_argument("--unit-dir", required=True, help="where the package installs the units")
    ap.add_argument("--include-dir", required=True, help="where the dev package installs headers")
    args = ap.parse_args()

    if os.geteuid() != 0:
        print("SKIP: needs root to create namespaces and mounts")
        return SKIP
    runtime = glob.glob(os.path.join(args.debs, "housebrain-periodic_*.deb"))
    dev = glob.glob(os.path.join(args.debs, "housebrain-periodic-plugin-dev_*.deb"))
    if len(runtime) != 1 or len(dev) != 1:
        print(f"FAIL: want one runtime and one dev package in {args.debs}: {runtime + dev}")
        return 1

    work = tempfile.mkdtemp(prefix="hb-pkg.")
    stage = work + "/stage"
    os.makedirs(stage + DEBS)
    for deb in runtime + dev:
        shutil.copy(deb, stage + DEBS)
    rt = f"{DEBS}/{os.path.basename(runtime[0])}"
    dv = f"{DEBS}/{os.path.basename(dev[0])}"
    write(stage + f"/etc/systemd/system/{TARGET}", """\
[Unit]
Description=housebrain-periodic package test
Wants=systemd-journald.service
After=systemd-journald.service
""")

    c = Container(work)
    t = Checks()

    def sh(cmd):
        return c.run("sh", "-c", cmd, check=False)

    def state(unit):
        enabled = sh(f"systemctl is-enabled {unit} 2>/dev/null").stdout.strip() or "(none)"
        active = sh(f"systemctl is-active {unit} 2>/dev/null").stdout.strip()
        return enabled, active

    def dpkg(*a):
        r = c.run("dpkg", *a, check=False)
        t.check(r.returncode == 0, "dpkg " + " ".join(a), r.stdout + r.stderr)
        return r

    try:
        c.start(stage)
        # 1. First installation.
        dpkg("-i", rt)
        t.check(state(TIMER) == ("enabled", "active"),
                "after first install the timer is enabled and active: %s/%s" % state(TIMER))

        # 2. Upgrade keeps the admin's choice.
        sh(f"systemctl disable --now {TIMER}")
        dpkg("-i", rt)
        t.check(state(TIMER)[0] == "disabled" and state(TIMER)[1] != "active",
                "after an upgrade a disabled timer stays disabled: %s/%s" % state(TIMER))

        # 3. Purge.
        sh(f"systemctl enable --now {TIMER}")
        sh(f"systemctl start {SERVICE}")  # outcome irrelevant: it creates the state directory
        had_state = sh("test -d /var/lib/private/housebrain-periodic").returncode == 0
        t.check(had_state, "a run created /var/lib/private/housebrain-periodic")
        dpkg("--purge", "housebrain-periodic")
        enabled, active = state(TIMER)
        t.check(active != "active" and enabled != "enabled",
                f"after purge the timer is stopped and not enabled: {enabled}/{active}")
        left = sh(f"ls -d {args.unit_dir}/housebrain-periodic* "
                  "/etc/systemd/system/timers.target.wants/housebrain-periodic.timer "
                  "/var/lib/housebrain-periodic /var/lib/private/housebrain-periodic "
                  "2>/dev/null").stdout.split()
        t.check(not left, "units, enablement link and state are gone", " ".join(left))

        # 4. The plugin-dev package.
        header = f"{args.include_dir}/housebrain/plugin.h"
        dpkg("-i", dv)
        t.check(sh(f"test -f {header}").returncode == 0, f"plugin-dev installs {header}")
        dpkg("-r", "housebrain-periodic-plugin-dev")
        t.check(sh(f"test -e {header}").returncode != 0, f"removing plugin-dev removes {header}")
    except Exception as e:
        t.check(False, f"aborted: {e}")
    finally:
        t.check(c.stop(), "container powered off; no process left behind")
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'FAILED' if t.failed else 'PASSED'}: {t.failed} check(s) failed")
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
