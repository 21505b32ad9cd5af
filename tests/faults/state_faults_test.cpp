// Cases 14-22 and 26: the state database, the run lock, signals to the host and the clock. The
// scheduling tests (tests/integration/scheduling_test.cpp) cover the due logic in depth; these add
// the fault side: healthy neighbours saved, nothing left running, the disk and the mount failing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <thread>

#include "fault_support.h"

using namespace hbfault;
using hbtest::count_occurrences;
using hbtest::read_file;
using hbtest::write_file;

namespace {

hbtest::ProcessResult at(const Sandbox& sb, const std::string& now, std::vector<std::string> args = {}) {
    args.push_back("--now");
    args.push_back(now);
    auto r = sb.run(args);
    expect_clean(r);
    return r;
}

size_t runs_of(const Sandbox& sb, const std::string& task_name) { return history_of(sb, task_name).size(); }

// This test process moves into a mount namespace of its own (ctest runs every test in a process
// of its own; propagation is private, so nothing leaks out). Empty on success, else why not.
std::string private_mount_namespace() {
    if (unshare(CLONE_NEWNS) != 0) return std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return std::string("mount --make-rprivate /: ") + std::strerror(errno);
    return {};
}

// Fills the file system holding `dir` until write() says ENOSPC.
void fill_up(const fs::path& dir) {
    const int fd = open((dir / "filler").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    const std::string block(4096, 'F');
    while (write(fd, block.data(), block.size()) > 0) {
    }
    const int e = errno;
    close(fd);
    ASSERT_EQ(e, ENOSPC) << std::strerror(e);
}

}  // namespace

TEST(Faults, Case14_MissingEmptyGarbageOrNewerStateIsSetAsideWithAWarningAndTheRunStartsFresh) {
    struct Variant {
        std::string what;
        std::function<void(const fs::path& db)> make;
        std::string aside_prefix;  // "" = nothing to set aside
    };
    const std::vector<Variant> variants{
        {"missing (state dir exists, no database)", [](const fs::path&) {}, ""},
        {"zero-length", [](const fs::path& db) { write_file(db, ""); }, "state.sqlite3.bad-"},
        {"garbage", [](const fs::path& db) { write_file(db, std::string(10000, '\x5a')); }, "state.sqlite3.bad-"},
        {"from a newer version",
         [](const fs::path& db) {
             auto r = hbtest::run_process(
                 {"/usr/bin/sqlite3", db.string(), "CREATE TABLE future(x); PRAGMA user_version = 99;"});
             ASSERT_EQ(r.exit_code, 0) << r.err;
         },
         "state.sqlite3.newer-"},
    };
    for (const auto& v : variants) {
        SCOPED_TRACE(v.what);
        Sandbox sb;
        sb.write_manifest(healthy(sb, {"h1", "h2"}));
        fs::create_directories(sb.state());
        v.make(sb.state() / "state.sqlite3");
        const std::string original = fs::exists(sb.state() / "state.sqlite3") ? read_file(sb.state() / "state.sqlite3") : "";
        auto r = sb.run();
        expect_clean(r);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        expect_healthy_saved(sb, {"h1", "h2"});
        if (v.aside_prefix.empty()) continue;
        EXPECT_NE(r.err.find("warning"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find(sb.state().string()), std::string::npos) << "the warning names the file:\n" << r.err;
        fs::path aside;
        for (const auto& e : fs::directory_iterator(sb.state()))
            if (e.path().filename().string().starts_with(v.aside_prefix)) aside = e.path();
        ASSERT_FALSE(aside.empty()) << "nothing named " << v.aside_prefix << "* in the state dir";
        EXPECT_EQ(read_file(aside), original) << "the set-aside copy must keep the old bytes";
        EXPECT_EQ(runs_of(sb, "h1"), 1u);
    }
}

TEST(Faults, Case15_KillMinusNineDuringStateWritesLeavesTheOldOrTheNewStateNeverATornOne) {
    Sandbox sb;
    std::vector<std::string> names;
    for (int i = 0; i < 60; ++i) names.push_back("t" + std::to_string(i));
    // history_limit 3: the writes also delete rows, so a kill can land in a trim too.
    sb.write_manifest(healthy(sb, names), "history_limit = 3\n");
    ASSERT_EQ(sb.run().exit_code, 0);
    const fs::path db = sb.state() / "state.sqlite3";
    int kills = 0;
    for (int i = 0; i < 8; ++i) {
        for (const auto& n : names) fs::remove(sb.marker(n));
        SpawnOptions o;
        o.argv = host_argv(sb);
        o.out = sb.root() / "out";
        o.err = sb.root() / "err";
        const pid_t host = spawn(o);
        // Kill right after task k wrote its marker: its result is being saved, or the next task
        // is starting. A different k each time spreads the kills over the run.
        const fs::path trigger = sb.marker(names[static_cast<size_t>(3 + 6 * i)]);
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (!fs::exists(trigger) && std::chrono::steady_clock::now() < give_up)
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        kill(host, SIGKILL);
        const auto code = wait_exit(host);
        if (code == std::optional<int>(-SIGKILL)) ++kills;
        EXPECT_TRUE(wait_no_survivors(sb).empty()) << "a task outlived its SIGKILLed host";
        kill_survivors(sb);
        EXPECT_EQ(sqlite_integrity(db), "ok") << "after kill " << i;
    }
    EXPECT_GE(kills, 7) << "the runs should have been killed mid-way";
    // The next run opens the database as it is: nothing to set aside, every task recorded.
    auto r = sb.run();
    expect_clean(r);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err.find("warning"), std::string::npos) << "the state was torn:\n" << r.err;
    auto h = sb.run({"--history", "--json", "-n", "10000"});
    ASSERT_EQ(h.exit_code, 0) << h.err;
    for (const auto& n : names) {
        const size_t runs = count_occurrences(h.out, "\"task\":\"" + n + "\",");
        EXPECT_GE(runs, 1u) << n;
        EXPECT_LE(runs, 3u) << n << ": history_limit not applied atomically";
    }
}

TEST(Faults, Case16_DiskFullKeepsTheOldStateGivesAClearErrorAndANonZeroExit) {
    if (const auto why = private_mount_namespace(); !why.empty()) {
        GTEST_SKIP() << "cannot mount a small tmpfs: " << why;
    }
    Sandbox sb;
    sb.add_fixture("cooperative_sleep");
    fs::create_directories(sb.state());
    if (mount("hb-fault-full", sb.state().c_str(), "tmpfs", 0, "size=256k,mode=0755") != 0) {
        GTEST_SKIP() << "cannot mount a small tmpfs: " << std::strerror(errno);
    }
    struct Unmount {
        fs::path p;
        ~Unmount() { umount2(p.c_str(), MNT_DETACH); }
    } unmount{sb.state()};
    const std::string tasks = healthy(sb, {"h1"}) + task("sleeper", "cooperative_sleep", "config = { seconds = 1 }") +
                              healthy(sb, {"h2"});
    sb.write_manifest(tasks);
    auto first = sb.run();
    ASSERT_EQ(first.exit_code, 0) << first.err;
    const fs::path db = sb.state() / "state.sqlite3";

    // Full before the run starts: the state cannot be opened; nothing runs, nothing is lost.
    fs::remove(sb.marker("h1"));
    fill_up(sb.state());
    auto full = sb.run();
    expect_clean(full);
    EXPECT_EQ(full.exit_code, 4) << full.err;
    EXPECT_NE(full.err.find(db.string()), std::string::npos) << full.err;
    EXPECT_NE(full.err.find("No space left on device"), std::string::npos) << full.err;
    EXPECT_FALSE(fs::exists(sb.marker("h1")));
    fs::remove(sb.state() / "filler");
    EXPECT_EQ(sqlite_integrity(db), "ok");
    EXPECT_EQ(runs_of(sb, "h1"), 1u);

    // Full in the middle of a run: the results that cannot be saved are named, later tasks still
    // run, the exit code says the state is unusable, and what was saved before stays.
    fs::remove(sb.task_dir("sleeper") / "started");
    fs::remove(sb.marker("h2"));
    SpawnOptions o;
    o.argv = host_argv(sb);
    o.out = sb.root() / "out";
    o.err = sb.root() / "err";
    const pid_t host = spawn(o);
    ASSERT_TRUE(wait_for_file(sb.task_dir("sleeper") / "started")) << read_file(o.err);
    fill_up(sb.state());
    const auto code = wait_exit(host);
    const std::string err = read_file(o.err);
    EXPECT_EQ(code, std::optional<int>(4)) << err;
    EXPECT_NE(err.find("cannot record the result of task 'sleeper'"), std::string::npos) << err;
    EXPECT_NE(err.find("disk is full"), std::string::npos) << err;
    EXPECT_TRUE(fs::exists(sb.marker("h2"))) << "the task after the failed write did not run";
    fs::remove(sb.state() / "filler");
    EXPECT_EQ(sqlite_integrity(db), "ok");
    EXPECT_EQ(runs_of(sb, "h1"), 2u) << "h1 was saved before the disk filled up";
    EXPECT_EQ(runs_of(sb, "sleeper"), 1u) << "only the first run of sleeper could be saved";

    // With room again, everything works.
    auto after = sb.run();
    EXPECT_EQ(after.exit_code, 0) << after.err;
    EXPECT_EQ(runs_of(sb, "sleeper"), 2u);
}

TEST(Faults, Case17_ReadOnlyStateDirectoryIsAClearErrorWithExitFourAndRunsNoPlugin) {
    if (const auto why = private_mount_namespace(); !why.empty()) {
        GTEST_SKIP() << "cannot remount read-only: " << why;
    }
    Sandbox sb;
    sb.write_manifest(healthy(sb, {"h1", "h2"}));
    ASSERT_EQ(sb.run().exit_code, 0);
    const auto before = snapshot(sb.state());
    fs::remove(sb.marker("h1"));
    // Root ignores permission bits, so a read-only mount it is (bind mount, then remount ro).
    if (mount(sb.state().c_str(), sb.state().c_str(), nullptr, MS_BIND, nullptr) != 0 ||
        mount(nullptr, sb.state().c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
        GTEST_SKIP() << "cannot make a read-only bind mount: " << std::strerror(errno);
    }
    struct Unmount {
        fs::path p;
        ~Unmount() { umount2(p.c_str(), MNT_DETACH); }
    } unmount{sb.state()};
    for (const auto& action : std::vector<std::vector<std::string>>{{}, {"--run-task", "h1"}, {"--reset", "h1"}}) {
        auto r = sb.run(action);
        expect_clean(r);
        EXPECT_EQ(r.exit_code, 4) << r.err;
        EXPECT_NE(r.err.find("state directory unusable"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find(sb.state().string()), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("Read-only file system"), std::string::npos) << r.err;
    }
    EXPECT_FALSE(fs::exists(sb.marker("h1"))) << "a task ran although its result could not be saved";
    EXPECT_TRUE(survivors(sb).empty());
    // A state directory that cannot even be created, on a read-only file system.
    const fs::path ro = sb.root() / "ro";
    fs::create_directories(ro);
    ASSERT_EQ(mount("hb-fault-ro", ro.c_str(), "tmpfs", MS_RDONLY, nullptr), 0) << std::strerror(errno);
    struct Unmount2 {
        fs::path p;
        ~Unmount2() { umount2(p.c_str(), MNT_DETACH); }
    } unmount2{ro};
    auto r = sb.run({"--state-dir", (ro / "state").string()});
    expect_clean(r);
    EXPECT_EQ(r.exit_code, 4) << r.err;
    EXPECT_NE(r.err.find("state directory unusable: " + (ro / "state").string() + ": Read-only file system"),
              std::string::npos)
        << r.err;
    EXPECT_FALSE(fs::exists(sb.marker("h1")));
    umount2(sb.state().c_str(), MNT_DETACH);
    EXPECT_EQ(snapshot(sb.state()), before) << "the old state changed";
}

TEST(Faults, Case18_SecondInstanceIsRefusedAtOnceWithExitThreeAndTouchesNothing) {
    Sandbox sb;
    sb.add_fixture("cooperative_sleep");
    sb.write_manifest(healthy(sb, {"h1"}) + task("sleepy", "cooperative_sleep", "config = { seconds = 600 }") +
                      healthy(sb, {"h2"}));
    SpawnOptions o;
    o.argv = host_argv(sb);
    o.out = sb.root() / "out";
    o.err = sb.root() / "err";
    const pid_t first = spawn(o);
    ASSERT_TRUE(wait_for_file(sb.task_dir("sleepy") / "started")) << read_file(o.err);
    fs::remove(sb.marker("h1"));
    auto second = sb.run({}, {}, std::chrono::seconds(60));
    expect_clean(second);  // "at once": not held up behind the first run
    EXPECT_EQ(second.exit_code, 3) << second.err;
    EXPECT_NE(second.err.find("another housebrain-periodic run holds the lock in " + sb.state().string()),
              std::string::npos)
        << second.err;
    EXPECT_FALSE(fs::exists(sb.marker("h1"))) << "the second instance ran a task";
    kill(first, SIGTERM);
    EXPECT_EQ(wait_exit(first), std::optional<int>(1)) << read_file(o.err);
    EXPECT_EQ(runs_of(sb, "h1"), 1u) << "only the first instance's run of h1 is saved";
    EXPECT_TRUE(wait_no_survivors(sb).empty());
}

TEST(Faults, Case19_LockOfASigkilledHostNeverBlocksTheNextRunAndItsTaskDiesWithIt) {
    Sandbox sb;
    sb.add_fixture("cooperative_sleep");
    sb.write_manifest(healthy(sb, {"h1"}) + task("sleepy", "cooperative_sleep") + healthy(sb, {"h2"}));
    SpawnOptions o;
    o.argv = host_argv(sb, {"--run-task", "sleepy"});
    o.out = sb.root() / "out";
    o.err = sb.root() / "err";
    const pid_t host = spawn(o);
    ASSERT_TRUE(wait_for_file(sb.task_dir("sleepy") / "started")) << read_file(o.err);
    kill(host, SIGKILL);
    EXPECT_EQ(wait_exit(host), std::optional<int>(-SIGKILL));
    // The task's process dies with the host (PR_SET_PDEATHSIG), so it cannot hold the lock either.
    EXPECT_TRUE(wait_no_survivors(sb).empty()) << "the task outlived its SIGKILLed host";
    kill_survivors(sb);
    fs::remove(sb.plugins() / "cooperative_sleep.so");
    sb.write_manifest(healthy(sb, {"h1", "h2"}));
    auto r = sb.run({}, {}, std::chrono::seconds(60));
    expect_clean(r);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    expect_healthy_saved(sb, {"h1", "h2"});
}

TEST(Faults, Case20_SigtermMidTaskStopsEvenATaskIgnoringItRecordsInterruptedAndExitsWithoutWaiting) {
    struct Variant {
        std::string what, plugin, config, ready_file;
    };
    const std::vector<Variant> variants{
        // Polls should_stop() and returns HB_STATUS_CANCELLED.
        {"cooperative", "cooperative_sleep", "", "started"},
        // Ignores SIGTERM and should_stop(): the host must escalate to SIGKILL after the grace.
        {"ignores SIGTERM", "hang", "", ""},
        // Leaves a setsid() grandchild holding the output pipe: swept although the host is stopping.
        {"setsid grandchild", "setsid_linger", "config = { hang = true }", "grandchild.pid"},
    };
    for (const auto& v : variants) {
        SCOPED_TRACE(v.what);
        Sandbox sb;
        sb.add_fixture(v.plugin);
        sb.write_manifest(healthy(sb, {"before"}) + task("victim", v.plugin, "timeout = \"1h\"\n" + v.config) +
                          healthy(sb, {"after"}));
        SpawnOptions o;
        o.argv = host_argv(sb);
        o.out = sb.root() / "out";
        o.err = sb.root() / "err";
        const pid_t host = spawn(o);
        ASSERT_TRUE(wait_for_file(v.ready_file.empty() ? sb.marker("before") : sb.task_dir("victim") / v.ready_file))
            << read_file(o.err);
        std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the victim get going
        kill(host, SIGTERM);
        // Generous: systemd's stop timeout is 90 s by default; the host needs the kill grace (1 s here).
        const auto code = wait_exit(host, std::chrono::seconds(60));
        const std::string err = read_file(o.err);
        ASSERT_TRUE(code.has_value()) << "the host did not exit after SIGTERM:\n" << err;
        EXPECT_EQ(*code, 1) << err;
        EXPECT_NE(err.find("task 'victim' interrupted"), std::string::npos) << err;
        EXPECT_NE(err.find("stopped early on SIGTERM"), std::string::npos) << err;
        EXPECT_FALSE(fs::exists(sb.marker("after"))) << "the host went on after SIGTERM";
        const auto h = history_of(sb, "victim");
        ASSERT_EQ(h.size(), 1u);
        EXPECT_NE(h[0].find("\"outcome\":\"interrupted\""), std::string::npos) << h[0];
        expect_healthy_saved(sb, {"before"});
        EXPECT_TRUE(wait_no_survivors(sb).empty()) << "a process of the stopped task survived";
        kill_survivors(sb);
    }
}

TEST(Faults, Case21_WallClockBackOrForwardAnHourNeverRunsATaskTwiceAndCatchesUpAtMostOnce) {
    Sandbox sb;
    sb.write_manifest(healthy(sb, {"tick"}) +
                      task("hourly", "ok_marker", "schedule = \"hourly\"\nconfig = { marker = \"" +
                                                      sb.marker("hourly").string() + "\" }") +
                      task("interval", "ok_marker", "every = \"1h\"\nconfig = { marker = \"" +
                                                        sb.marker("interval").string() + "\" }"));
    const std::vector<std::pair<std::string, size_t>> steps{
        {"2026-06-01 10:30:00 UTC", 1},  // first run
        {"2026-06-01 09:30:00 UTC", 1},  // back an hour: nothing runs twice
        {"2026-06-01 10:29:00 UTC", 1},
        {"2026-06-01 10:31:00 UTC", 1},
        {"2026-06-01 11:31:00 UTC", 2},  // forward: the next elapse, once
        {"2026-06-01 13:45:00 UTC", 3},  // forward two hours: one catch-up, not two
        {"2026-06-01 13:46:00 UTC", 3},
    };
    size_t ticks = 0;
    for (const auto& [now, expected] : steps) {
        SCOPED_TRACE(now);
        auto r = at(sb, now);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        ++ticks;
        EXPECT_EQ(runs_of(sb, "hourly"), expected);
        EXPECT_EQ(runs_of(sb, "interval"), expected);
        EXPECT_EQ(runs_of(sb, "tick"), ticks) << "the healthy every-tick task runs and is saved on every tick";
    }
}

TEST(Faults, Case22_ThreeDaysOfDowntimeGiveOneCatchUpRunPerTaskNotOnePerMissedElapse) {
    Sandbox sb;
    sb.write_manifest(healthy(sb, {"tick"}) +
                      task("minutely", "ok_marker", "schedule = \"minutely\"\nconfig = { marker = \"" +
                                                        sb.marker("minutely").string() + "\" }") +
                      task("five", "ok_marker", "schedule = \"*:0/5\"\nconfig = { marker = \"" +
                                                    sb.marker("five").string() + "\" }") +
                      task("daily", "ok_marker", "schedule = \"daily\"\nconfig = { marker = \"" +
                                                     sb.marker("daily").string() + "\" }"));
    EXPECT_EQ(at(sb, "2026-01-01 00:00:30 UTC").exit_code, 0);
    auto r = at(sb, "2026-01-04 00:00:30 UTC");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    for (const char* t : {"tick", "minutely", "five", "daily"}) EXPECT_EQ(runs_of(sb, t), 2u) << t;
    EXPECT_EQ(count_occurrences(read_file(sb.marker("minutely")), "\n"), 2u);
}

TEST(Faults, Case26_CrashingOnEveryRunIsQuarantinedWithACappedBackoffVisibleAndResettable) {
    Sandbox sb;
    sb.add_fixture("crash_segv");
    sb.write_manifest(healthy(sb, {"tick"}) + task("crasher", "crash_segv"),
                      "quarantine_after = 2\nquarantine_backoff = \"1min\"\nquarantine_max_backoff = \"4min\"\n");
    std::vector<int> crash_minutes;
    for (int minute = 0; minute <= 30; ++minute) {
        char now[64];
        std::snprintf(now, sizeof now, "2026-06-01 10:%02d:00 UTC", minute);
        const size_t before = runs_of(sb, "crasher");
        auto r = at(sb, now);
        if (runs_of(sb, "crasher") > before) {
            crash_minutes.push_back(minute);
            EXPECT_EQ(r.exit_code, 1) << r.err;
        } else {
            EXPECT_EQ(r.exit_code, 0) << "a quarantined task is skipped, not failed:\n" << r.err;
        }
    }
    EXPECT_EQ(runs_of(sb, "tick"), 31u) << "the healthy task ran and was saved on every tick";
    ASSERT_GE(crash_minutes.size(), 6u);
    std::vector<int> gaps;
    for (size_t i = 1; i < crash_minutes.size(); ++i) gaps.push_back(crash_minutes[i] - crash_minutes[i - 1]);
    // Growing backoff, never beyond the cap (4 min) plus the tick it takes to notice. (Whether the
    // tick at exactly the end of a backoff runs depends on milliseconds of the fake clock: 4 or 5.)
    std::string seen;
    for (int m : crash_minutes) seen += std::to_string(m) + " ";
    EXPECT_EQ(gaps.front(), 1) << "crash minutes: " << seen;
    for (int g : gaps) EXPECT_LE(g, 5) << "the backoff grew past its cap; crash minutes: " << seen;
    for (size_t i = gaps.size() - 3; i < gaps.size(); ++i)
        EXPECT_GE(gaps[i], 4) << "the backoff did not reach its cap; crash minutes: " << seen;

    // Visible: --list (text and JSON) and --dry-run say so, with the time it ends.
    const int last = crash_minutes.back();
    char now[64];
    std::snprintf(now, sizeof now, "2026-06-01 10:%02d:30 UTC", last);
    auto list = at(sb, now, {"--list"});
    EXPECT_NE(list.out.find("QUARANTINED: quarantined after"), std::string::npos) << list.out;
    auto json = at(sb, now, {"--list", "--json"});
    const auto entry = json.out.find("\"name\":\"crasher\"");
    ASSERT_NE(entry, std::string::npos) << json.out;
    EXPECT_NE(json.out.find("\"quarantined_until\":\"Mon 2026-06-01 10:", entry), std::string::npos) << json.out;
    auto dry = at(sb, now, {"--dry-run"});
    EXPECT_NE(dry.out.find("crasher: would not run: quarantined"), std::string::npos) << dry.out;
    // Resettable: --reset lifts it and the next tick runs the task again.
    auto reset = sb.run({"--reset", "crasher"});
    EXPECT_EQ(reset.exit_code, 0) << reset.err;
    const size_t before = runs_of(sb, "crasher");
    auto r = at(sb, now);
    EXPECT_EQ(runs_of(sb, "crasher"), before + 1) << r.err;
}
