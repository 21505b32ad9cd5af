// Issue 3: schedules, due logic with an injected clock (--now), SQLite state and history, the run
// lock, SIGTERM handling, quarantine, retries and --dry-run. The real binary, real SQLite files.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "harness.h"

using namespace hbtest;

namespace {

std::string task(const std::string& name, const std::string& plugin, const std::string& extra = "") {
    return "[[task]]\nname = \"" + name + "\"\nplugin = \"" + plugin + "\"\n" + extra + "\n";
}

std::string marker_task(const Sandbox& sb, const std::string& name, const std::string& extra) {
    return "[[task]]\nname = \"" + name + "\"\nplugin = \"ok_marker\"\n" + extra + "\nconfig = { marker = \"" +
           sb.marker(name).string() + "\" }\n\n";
}

size_t lines_in(const fs::path& p) { return fs::exists(p) ? count_occurrences(read_file(p), "\n") : 0; }

ProcessResult at(const Sandbox& sb, const std::string& now, std::vector<std::string> args = {}) {
    args.push_back("--now");
    args.push_back(now);
    return sb.run(args);
}

// The binary in the background, stdout/stderr to files; returns its pid.
pid_t start_background(const Sandbox& sb, const std::vector<std::string>& args, const fs::path& log) {
    const pid_t pid = fork();
    if (pid == 0) {
        const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        unsetenv("JOURNAL_STREAM");
        exec_host(sb, args);
    }
    return pid;
}

bool wait_for_file(const fs::path& p, int max_tenths = 300) {
    for (int i = 0; i < max_tenths; ++i) {
        if (fs::exists(p)) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

int wait_exit(pid_t pid, int max_tenths = 600) {
    for (int i = 0; i < max_tenths; ++i) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1000;
}

}  // namespace

TEST(Scheduling, AfterDaysOfDowntimeAMissedScheduleRunsOnceNotOncePerElapse) {
    Sandbox sb;
    sb.add_fixture("ok_marker");
    sb.write_manifest(marker_task(sb, "five", "schedule = \"*:0/5\""));
    EXPECT_EQ(at(sb, "2026-01-01 00:00:30 UTC").exit_code, 0);
    EXPECT_EQ(lines_in(sb.marker("five")), 1u);  // never ran: runs
    EXPECT_EQ(at(sb, "2026-01-01 00:03:00 UTC").exit_code, 0);
    EXPECT_EQ(lines_in(sb.marker("five")), 1u);  // 00:05 not reached yet
    // Three days later: 864 elapses were missed; the task runs once.
    auto r = at(sb, "2026-01-04 00:01:00 UTC");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(lines_in(sb.marker("five")), 2u);
    EXPECT_EQ(at(sb, "2026-01-04 00:02:00 UTC").exit_code, 0);
    EXPECT_EQ(lines_in(sb.marker("five")), 2u);
    auto dry = at(sb, "2026-01-04 00:02:00 UTC", {"--dry-run"});
    EXPECT_NE(dry.out.find("five: would not run: next due at Sun 2026-01-04 00:05:00"), std::string::npos) << dry.out;
    auto h = sb.run({"--history", "five"});
    EXPECT_EQ(count_occurrences(h.out, " ok "), 2u) << h.out;
}

TEST(Scheduling, ClockGoingBackAnHourNeverRunsATaskTwice) {
    Sandbox sb;
    sb.add_fixture("ok_marker");
    sb.write_manifest(marker_task(sb, "hourly", "schedule = \"hourly\""));
    EXPECT_EQ(at(sb, "2026-06-01 10:00:30 UTC").exit_code, 0);
    EXPECT_EQ(at(sb, "2026-06-01 11:00:10 UTC").exit_code, 0);
    EXPECT_EQ(lines_in(sb.marker("hourly")), 2u);
    // The clock goes back an hour and walks forward through the same elapse again.
    EXPECT_EQ(at(sb, "2026-06-01 10:00:10 UTC").exit_code, 0);
    EXPECT_EQ(at(sb, "2026-06-01 10:30:00 UTC").exit_code, 0);
    EXPECT_EQ(at(sb, "2026-06-01 11:00:20 UTC").exit_code, 0);
    EXPECT_EQ(lines_in(sb.marker("hourly")), 2u);
    auto dry = at(sb, "2026-06-01 10:00:10 UTC", {"--dry-run"});
    EXPECT_NE(dry.out.find("the clock went back"), std::string::npos) << dry.out;
    // Forward again: the next elapse runs once.
    EXPECT_EQ(at(sb, "2026-06-01 12:00:05 UTC").exit_code, 0);
    EXPECT_EQ(lines_in(sb.marker("hourly")), 3u);
}

TEST(Scheduling, ClockJumpingForwardCausesAtMostOneCatchUp) {
    Sandbox sb;
    sb.add_fixture("ok_marker");
    sb.write_manifest(marker_task(sb, "q", "schedule = \"*:0/15\""));
    EXPECT_EQ(at(sb, "2026-06-01 10:00:30 UTC").exit_code, 0);
    EXPECT_EQ(at(sb, "2026-06-01 11:01:00 UTC").exit_code, 0);  // four elapses skipped by the jump
    EXPECT_EQ(at(sb, "2026-06-01 11:02:00 UTC").exit_code, 0);
    EXPECT_EQ(lines_in(sb.marker("q")), 2u);
}

TEST(Scheduling, IntervalTasksAreDueEveryAfterTheLastStart) {
    Sandbox sb;
    sb.add_fixture("ok_marker");
    sb.write_manifest(marker_task(sb, "iv", "every = \"90s\""));
    EXPECT_EQ(at(sb, "2026-06-01 10:00:00 UTC").exit_code, 0);
    EXPECT_EQ(at(sb, "2026-06-01 10:01:00 UTC").exit_code, 0);
    EXPECT_EQ(lines_in(sb.marker("iv")), 1u);
    EXPECT_EQ(at(sb, "2026-06-01 10:02:00 UTC").exit_code, 0);
    EXPECT_EQ(lines_in(sb.marker("iv")), 2u);
}

TEST(Scheduling, PluginSuggestedScheduleAppliesUnlessTheManifestOverridesIt) {
    Sandbox sb;
    sb.add_fixture("suggests_defaults");  // suggests "hourly"
    sb.add_fixture("suggests_defaults", "overridden.so");
    sb.write_manifest(task("overridden", "overridden", "schedule = \"*:0/10\""));
    for (auto t : {"2026-06-01 10:00:30 UTC", "2026-06-01 10:10:30 UTC", "2026-06-01 10:30:00 UTC",
                   "2026-06-01 11:00:30 UTC"})
        EXPECT_EQ(at(sb, t).exit_code, 0);
    EXPECT_EQ(lines_in(sb.task_dir("suggests_defaults") / "marker"), 2u);  // 10:00:30 and 11:00:30
    EXPECT_EQ(lines_in(sb.task_dir("overridden") / "marker"), 4u);         // every 10 minutes
}

TEST(Scheduling, SecondInstanceIsRefusedAtOnceWithItsOwnExitCode) {
    Sandbox sb;
    sb.add_fixture("cooperative_sleep");
    sb.add_fixture("ok_marker");
    sb.write_manifest(task("sleepy", "cooperative_sleep", "config = { seconds = 120 }"));
    const pid_t first = start_background(sb, {}, sb.root() / "first.log");
    ASSERT_TRUE(wait_for_file(sb.task_dir("sleepy") / "started")) << read_file(sb.root() / "first.log");
    auto second = sb.run();
    EXPECT_EQ(second.exit_code, 3) << second.err;
    EXPECT_NE(second.err.find("another housebrain-periodic run holds the lock"), std::string::npos) << second.err;
    kill(first, SIGTERM);
    EXPECT_EQ(wait_exit(first), 1) << read_file(sb.root() / "first.log");
}

TEST(Scheduling, SigtermMidTaskStopsItRecordsInterruptedAndKeepsItDue) {
    Sandbox sb;
    sb.add_fixture("cooperative_sleep");
    sb.add_fixture("hang");
    sb.add_fixture("ok_marker");
    sb.write_manifest(marker_task(sb, "before", "") + task("sleepy", "cooperative_sleep") + marker_task(sb, "after", ""));
    const pid_t host = start_background(sb, {}, sb.root() / "host.log");
    ASSERT_TRUE(wait_for_file(sb.task_dir("sleepy") / "started"));
    kill(host, SIGTERM);
    EXPECT_EQ(wait_exit(host), 1);
    const std::string log = read_file(sb.root() / "host.log");
    EXPECT_NE(log.find("task 'sleepy' interrupted"), std::string::npos) << log;
    EXPECT_NE(log.find("stopped early on SIGTERM"), std::string::npos) << log;
    EXPECT_TRUE(fs::exists(sb.marker("before")));
    EXPECT_FALSE(fs::exists(sb.marker("after"))) << "the host must stop, not go on with the next task";
    auto h = sb.run({"--history"});
    EXPECT_NE(h.out.find("interrupted"), std::string::npos) << h.out;
    EXPECT_NE(h.out.find("before"), std::string::npos) << h.out;
    auto dry = sb.run({"--dry-run"});
    EXPECT_NE(dry.out.find("sleepy: would run: never ran"), std::string::npos)
        << "an interrupted run does not count as done:\n" << dry.out;
}

TEST(Scheduling, LockLeftByAKilledRunNeverBlocksTheNext) {
    Sandbox sb;
    sb.add_fixture("hang");
    sb.add_fixture("ok_marker");
    sb.write_manifest(task("stuck", "hang", "timeout = \"1h\"") );
    const pid_t host = start_background(sb, {}, sb.root() / "host.log");
    ASSERT_TRUE(wait_for_file(sb.state() / "housebrain-periodic.lock"));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    kill(host, SIGKILL);
    EXPECT_EQ(wait_exit(host), -SIGKILL);
    fs::remove(sb.plugins() / "hang.so");
    sb.write_manifest(marker_task(sb, "next", ""));
    auto r = sb.run();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(fs::exists(sb.marker("next")));
}

TEST(Scheduling, CorruptDatabaseIsSetAsideWithAWarningAndTheRunCompletes) {
    Sandbox sb;
    sb.add_fixture("ok_marker");
    sb.write_manifest(marker_task(sb, "a", ""));
    fs::create_directories(sb.state());
    write_file(sb.state() / "state.sqlite3", std::string(8192, 'G'));
    auto r = sb.run();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(fs::exists(sb.marker("a")));
    EXPECT_NE(r.err.find("warning"), std::string::npos) << r.err;
    bool set_aside = false;
    for (const auto& e : fs::directory_iterator(sb.state()))
        set_aside = set_aside || e.path().filename().string().starts_with("state.sqlite3.bad-");
    EXPECT_TRUE(set_aside);
    auto h = sb.run({"--history"});
    EXPECT_EQ(count_occurrences(h.out, " ok "), 1u) << h.out;
}

TEST(Scheduling, RepeatCrasherIsQuarantinedVisiblyAndReleasedWhenItsFileIsReplaced) {
    Sandbox sb;
    sb.add_fixture("crash_segv", "flaky.so");
    sb.add_fixture("ok_marker");
    sb.write_manifest(task("flaky", "flaky", "config = { marker = \"" + sb.marker("flaky").string() + "\" }"),
                      "quarantine_after = 2\nquarantine_backoff = \"10min\"\n");
    auto r1 = at(sb, "2026-06-01 10:00:00 UTC");
    auto r2 = at(sb, "2026-06-01 10:01:00 UTC");
    EXPECT_NE(r2.err.find("task 'flaky' quarantined until"), std::string::npos) << r2.err;
    auto r3 = at(sb, "2026-06-01 10:02:00 UTC");
    EXPECT_EQ(r3.exit_code, 0) << "a quarantined task is skipped, not failed:\n" << r3.err;
    EXPECT_EQ(count_occurrences(sb.run({"--history", "flaky"}).out, "killed by SIGSEGV"), 2u);
    auto dry = at(sb, "2026-06-01 10:02:00 UTC", {"--dry-run"});
    EXPECT_NE(dry.out.find("flaky: would not run: quarantined after 2 crashes or timeouts in a row"), std::string::npos)
        << dry.out;
    auto list = at(sb, "2026-06-01 10:02:00 UTC", {"--list", "--json"});
    EXPECT_NE(list.out.find("\"quarantined_until\":\"Mon 2026-06-01 10:11:00"), std::string::npos) << list.out;
    // After the backoff the task is tried again; one more crash doubles the backoff (capped).
    auto r4 = at(sb, "2026-06-01 10:12:00 UTC");
    EXPECT_NE(r4.err.find("crashed"), std::string::npos) << r4.err;
    auto dry2 = at(sb, "2026-06-01 10:13:00 UTC", {"--dry-run"});
    EXPECT_NE(dry2.out.find("until Mon 2026-06-01 10:32:00"), std::string::npos) << dry2.out;
    // The admin replaces the plugin: the quarantine lifts at once.
    fs::remove(sb.plugins() / "flaky.so");
    sb.add_fixture("ok_marker", "flaky.so");
    auto r5 = at(sb, "2026-06-01 10:14:00 UTC");
    EXPECT_EQ(r5.exit_code, 0) << r5.err;
    EXPECT_TRUE(fs::exists(sb.marker("flaky")));
}

TEST(Scheduling, ResetClearsAQuarantine) {
    Sandbox sb;
    sb.add_fixture("crash_segv");
    sb.write_manifest(task("c", "crash_segv"), "quarantine_after = 1\n");
    at(sb, "2026-06-01 10:00:00 UTC");
    EXPECT_NE(at(sb, "2026-06-01 10:01:00 UTC", {"--dry-run"}).out.find("quarantined"), std::string::npos);
    auto reset = sb.run({"--reset", "c"});
    EXPECT_EQ(reset.exit_code, 0) << reset.err;
    EXPECT_NE(reset.out.find("task 'c' reset"), std::string::npos);
    EXPECT_NE(at(sb, "2026-06-01 10:01:00 UTC", {"--dry-run"}).out.find("c: would run"), std::string::npos);
}

TEST(Scheduling, RetryOnFailureRunsOnTheNextTicksUpToTheBoundThenFollowsTheSchedule) {
    Sandbox sb;
    sb.add_fixture("fail_message");
    sb.write_manifest(task("f", "fail_message", "schedule = \"daily\"\nretry_on_failure = 2"));
    for (auto t : {"2026-06-01 10:00:00 UTC", "2026-06-01 10:01:00 UTC", "2026-06-01 10:02:00 UTC",
                   "2026-06-01 10:03:00 UTC", "2026-06-01 10:04:00 UTC"})
        at(sb, t);
    EXPECT_EQ(count_occurrences(sb.run({"--history", "f"}).out, "failed"), 3u);  // first run + 2 retries
    auto dry = at(sb, "2026-06-01 10:05:00 UTC", {"--dry-run"});
    EXPECT_NE(dry.out.find("f: would not run: next due at Tue 2026-06-02 00:00:00"), std::string::npos) << dry.out;
}

TEST(Scheduling, RunTaskIgnoresTheScheduleAndIsRecordedWithItsRunId) {
    Sandbox sb;
    sb.add_fixture("ok_marker");
    sb.write_manifest(marker_task(sb, "d", "schedule = \"daily\""));
    EXPECT_EQ(at(sb, "2026-06-01 10:00:00 UTC").exit_code, 0);
    auto r = at(sb, "2026-06-01 10:05:00 UTC", {"--run-task", "d", "--log-level", "debug"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(lines_in(sb.marker("d")), 2u);
    const auto pos = r.err.find("(run ");
    ASSERT_NE(pos, std::string::npos) << r.err;
    const std::string run_id = r.err.substr(pos + 5, r.err.find_first_of(",)", pos) - pos - 5);
    EXPECT_NE(sb.run({"--history", "d"}).out.find(run_id), std::string::npos) << run_id;
}

TEST(Scheduling, DryRunExplainsEveryKindOfTask) {
    Sandbox sb;
    sb.add_fixture("ok_marker");
    sb.add_fixture("ok_marker", "writable.so");
    fs::permissions(sb.plugins() / "writable.so", fs::perms::others_write, fs::perm_options::add);
    sb.write_manifest(marker_task(sb, "fresh", "") + marker_task(sb, "later", "schedule = \"daily\"") +
                      marker_task(sb, "off", "enabled = false") + task("bad", "writable"));
    at(sb, "2026-06-01 10:00:00 UTC", {"--run-task", "later"});
    auto dry = at(sb, "2026-06-01 12:00:00 UTC", {"--dry-run"});
    EXPECT_EQ(dry.exit_code, 0);
    EXPECT_NE(dry.out.find("fresh: would run: never ran"), std::string::npos) << dry.out;
    EXPECT_NE(dry.out.find("later: would not run: next due at Tue 2026-06-02 00:00:00"), std::string::npos) << dry.out;
    EXPECT_NE(dry.out.find("off: would not run: disabled in the manifest"), std::string::npos) << dry.out;
    EXPECT_NE(dry.out.find("bad: would fail: refused: plugin writable.so refused: file is group- or world-writable (mode 0646)"),
              std::string::npos)
        << dry.out;
    EXPECT_FALSE(fs::exists(sb.marker("fresh"))) << "--dry-run must not run anything";
}

TEST(Scheduling, CalendarCommandShowsTheSpringForwardDeviation) {
    auto r = run_process({host_binary().string(), "--calendar", "*-*-* 02:30:00", "--base-time", "2026-03-28 12:00",
                          "--iterations", "2"},
                         {{"TZ", "Europe/Paris"}});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("Normalized form: *-*-* 02:30:00"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Next elapse: Sun 2026-03-29 03:00:00 CEST"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("systemd skips it"), std::string::npos) << r.out;
}
