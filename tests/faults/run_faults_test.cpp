// Cases 1, 3-7: a task misbehaves while it runs. Healthy tasks run before and after it, and their
// runs must be saved; nothing the faulty task started may outlive the host.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "fault_support.h"

using namespace hbfault;
using hbtest::count_occurrences;
using hbtest::read_file;

namespace {

// The single line the host logs for a task's outcome, e.g. "task 'x' crashed: crashed: SIGFPE (run ...".
void expect_one_message(const std::string& err, const std::string& task_name, const std::string& text) {
    EXPECT_NE(err.find("task '" + task_name + "' " + text), std::string::npos) << "expected '" << text << "' in:\n" << err;
    EXPECT_EQ(count_occurrences(err, "task '" + task_name + "' "), 1u) << "one message per task:\n" << err;
}

bool history_has(const Sandbox& sb, const std::string& task_name, const std::string& outcome, const std::string& message) {
    for (const auto& line : history_of(sb, task_name))
        if (line.find("\"outcome\":\"" + outcome + "\"") != std::string::npos &&
            line.find(message) != std::string::npos)
            return true;
    return false;
}

}  // namespace

TEST(Faults, Case01_SegvAbortFpeIllBusEachEndAsCrashedWithTheSignalName) {
    Sandbox sb;
    sb.add_fixture("crash_segv");
    sb.add_fixture("raise_signal");
    add_fault_plugin(sb, "hw_fault");
    struct Crash {
        std::string name, plugin, config, signal;
    };
    const std::vector<Crash> crashes{
        {"segv", "crash_segv", "", "SIGSEGV"},
        {"abort", "raise_signal", "signal = \"ABRT\"", "SIGABRT"},
        {"fpe", "hw_fault", "fault = \"FPE\"", "SIGFPE"},  // a real division by zero
        {"ill", "hw_fault", "fault = \"ILL\"", "SIGILL"},  // a real undefined instruction
        {"bus", "hw_fault", "fault = \"BUS\"", "SIGBUS"},  // a real access past a truncated mapping
        {"raised-fpe", "raise_signal", "signal = \"FPE\"", "SIGFPE"},
        {"raised-ill", "raise_signal", "signal = \"ILL\"", "SIGILL"},
        {"raised-bus", "raise_signal", "signal = \"BUS\"", "SIGBUS"},
    };
    std::string manifest = healthy(sb, {"first"});
    for (const auto& c : crashes) manifest += task(c.name, c.plugin, "config = { " + c.config + " }") + healthy(sb, {"after-" + c.name});
    sb.write_manifest(manifest);

    auto r = sb.run();
    expect_clean(r);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    std::vector<std::string> healthy_names{"first"};
    for (const auto& c : crashes) {
        expect_one_message(r.err, c.name, "crashed: killed by " + c.signal);
        EXPECT_TRUE(history_has(sb, c.name, "crashed", "killed by " + c.signal)) << c.name;
        healthy_names.push_back("after-" + c.name);
    }
    EXPECT_TRUE(fs::exists(sb.task_dir("fpe") / "armed")) << "the hardware-fault plugin never reached run()";
    expect_healthy_saved(sb, healthy_names);
    EXPECT_TRUE(wait_no_survivors(sb).empty());
}

TEST(Faults, Case03_ExitInsideRunAndDyingWithoutAResultAreNoResultOrCrashedAndAGarbledChannelIsAProtocolError) {
    Sandbox sb;
    sb.add_fixture("exit_in_run");
    sb.add_fixture("raise_signal");
    add_fault_plugin(sb, "channel_garbage");
    sb.write_manifest(healthy(sb, {"h1"}) + task("exits", "exit_in_run") + healthy(sb, {"h2"}) +
                      task("killed", "raise_signal", "config = { signal = \"KILL\" }") + healthy(sb, {"h3"}) +
                      task("garbage", "channel_garbage") + healthy(sb, {"h4"}));
    auto r = sb.run();
    expect_clean(r);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    expect_one_message(r.err, "exits", "no-result: exited with status 7 without reporting a result");
    expect_one_message(r.err, "killed", "crashed: killed by SIGKILL");
    // The plugin returned ok after garbling its channel: the host must not believe a later frame.
    expect_one_message(r.err, "garbage", "no-result: protocol error: bad frame magic");
    EXPECT_TRUE(history_has(sb, "exits", "no-result", "exited with status 7"));
    EXPECT_TRUE(history_has(sb, "garbage", "no-result", "protocol error"));
    expect_healthy_saved(sb, {"h1", "h2", "h3", "h4"});
    EXPECT_TRUE(wait_no_survivors(sb).empty());
}

TEST(Faults, Case04_InfiniteLoopGetsSigtermThenSigkillAfterTheGraceAndIsTimedOut) {
    Sandbox sb;
    sb.add_fixture("hang");
    sb.add_fixture("cooperative_sleep");
    // `hang` ignores SIGTERM and should_stop(): only SIGKILL after the grace ends it. `sleepy`
    // stops when asked.
    sb.write_manifest(healthy(sb, {"h1"}) + task("hang", "hang", "timeout = 1") + healthy(sb, {"h2"}) +
                      task("sleepy", "cooperative_sleep", "timeout = 1") + healthy(sb, {"h3"}));
    auto r = sb.run();
    expect_clean(r);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    expect_one_message(r.err, "hang", "timed-out: did not finish within 1s; killed by SIGKILL");
    expect_one_message(r.err, "sleepy", "timed-out");
    EXPECT_TRUE(history_has(sb, "hang", "timed-out", "killed by SIGKILL"));
    EXPECT_TRUE(history_has(sb, "sleepy", "timed-out", ""));
    expect_healthy_saved(sb, {"h1", "h2", "h3"});
    EXPECT_TRUE(wait_no_survivors(sb).empty());
}

TEST(Faults, Case05_SetsidGrandchildHoldingOutputIsKilledAndHostDoesNotWaitPastDeadline) {
    Sandbox sb;
    sb.add_fixture("setsid_linger");
    // `lingers` returns ok at once but leaves a setsid() grandchild that holds stdout open forever;
    // `stuck` does the same and then hangs until its deadline.
    sb.write_manifest(healthy(sb, {"h1"}) + task("lingers", "setsid_linger", "timeout = \"1h\"") + healthy(sb, {"h2"}) +
                      task("stuck", "setsid_linger", "timeout = 2\nconfig = { hang = true }") + healthy(sb, {"h3"}));
    auto r = sb.run({}, {}, std::chrono::seconds(120));
    expect_clean(r);  // a host waiting for the pipe's EOF would never finish
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("task 'stuck' timed-out: did not finish within 2s"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("task 'lingers' "), std::string::npos) << "an ok task is quiet:\n" << r.err;
    EXPECT_TRUE(history_has(sb, "lingers", "ok", ""));
    for (const char* t : {"lingers", "stuck"}) {
        const std::string pid_text = read_file(sb.task_dir(t) / "grandchild.pid");
        ASSERT_FALSE(pid_text.empty()) << t << ": the grandchild did not start";
        const pid_t pid = std::stoi(pid_text);
        // Gone, or at most a zombie being reaped; never a process still running our code.
        std::error_code ec;
        const bool alive = fs::exists("/proc/" + std::to_string(pid), ec) &&
                           read_file("/proc/" + std::to_string(pid) + "/cmdline").find(sb.manifest().string()) !=
                               std::string::npos;
        EXPECT_FALSE(alive) << t << ": setsid() grandchild " << pid << " outlived the run";
    }
    expect_healthy_saved(sb, {"h1", "h2", "h3"});
    EXPECT_TRUE(wait_no_survivors(sb).empty());
    kill_survivors(sb);
}

namespace {

// Runs the host under /usr/bin/time and returns its peak RSS in KiB (GNU time's %M).
long peak_rss_kib(const Sandbox& sb, hbtest::ProcessResult& r) {
    std::vector<std::string> argv{"/usr/bin/time", "-f", "hb-peak-rss-kib=%M"};
    for (const auto& a : host_argv(sb)) argv.push_back(a);
    r = hbtest::run_process(argv, {{"JOURNAL_STREAM", "\x01unset"}}, std::chrono::seconds(240));
    const auto pos = r.err.rfind("hb-peak-rss-kib=");
    if (pos == std::string::npos) return -1;
    return std::stol(r.err.substr(pos + 16));
}

}  // namespace

TEST(Faults, Case06_HundredMebibytesOfOutputNeitherDeadlocksNorGrowsTheHostAndIsTruncatedWithAMarker) {
    if (!fs::exists("/usr/bin/time")) {
        GTEST_SKIP() << "/usr/bin/time (Debian package time) is not installed";
    }
    Sandbox sb;
    sb.add_fixture("flood");
    // 1024-byte lines; the default cap of 64 KiB keeps exactly 64 of them.
    sb.write_manifest(healthy(sb, {"h1"}) + task("flood", "flood", "timeout = \"3min\"\nconfig = { mebibytes = 100 }") +
                      healthy(sb, {"h2"}));
    hbtest::ProcessResult big;
    const long rss_big = peak_rss_kib(sb, big);
    expect_clean(big);
    EXPECT_EQ(big.exit_code, 0) << big.err;
    const uint64_t total = 100ULL << 20, kept = 64 * 1024;
    EXPECT_NE(big.err.find("[flood] output truncated: " + std::to_string(total - kept) + " bytes dropped"),
              std::string::npos)
        << big.err.substr(0, 4096);
    EXPECT_TRUE(history_has(sb, "flood", "ok", ""));
    expect_healthy_saved(sb, {"h1", "h2"});

    // The same host with 1 MiB of output: the peak must not grow with the amount of output.
    Sandbox small;
    small.add_fixture("flood");
    small.write_manifest(healthy(small, {"h1"}) + task("flood", "flood", "config = { mebibytes = 1 }") +
                         healthy(small, {"h2"}));
    hbtest::ProcessResult little;
    const long rss_small = peak_rss_kib(small, little);
    ASSERT_GT(rss_big, 0) << big.err.substr(big.err.size() > 2048 ? big.err.size() - 2048 : 0);
    ASSERT_GT(rss_small, 0) << little.err;
    EXPECT_LT(rss_big, rss_small + 16 * 1024) << "peak RSS grew with the output: " << rss_small << " KiB for 1 MiB, "
                                              << rss_big << " KiB for 100 MiB";
    if (!kAsanBuild) {
        EXPECT_LT(rss_big, 64 * 1024) << "peak RSS " << rss_big << " KiB";
    }
    EXPECT_TRUE(wait_no_survivors(sb).empty());
}

TEST(Faults, Case07_MemoryBombIsStoppedByTheAddressSpaceLimitAndReportedFailed) {
    if (kAsanBuild) {
        GTEST_SKIP() << "AddressSanitizer reserves terabytes of shadow address space at start, so no RLIMIT_AS can be "
                        "applied to an ASan process; the limit is tested in the plain build";
    }
    Sandbox sb;
    sb.add_fixture("memory_bomb");
    sb.write_manifest(healthy(sb, {"h1"}) +
                      task("bomb", "memory_bomb", "timeout = \"2min\"\nlimits = { address_space = \"512M\" }") +
                      healthy(sb, {"h2"}));
    auto r = sb.run();
    expect_clean(r);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    expect_one_message(r.err, "bomb", "failed: malloc failed: the memory limit held");
    EXPECT_TRUE(history_has(sb, "bomb", "failed", "memory limit held"));
    expect_healthy_saved(sb, {"h1", "h2"});
    EXPECT_TRUE(wait_no_survivors(sb).empty());
}

TEST(Faults, Case07_ForkBombOfANonRootHostIsStoppedByTheProcessLimitAndNothingSurvives) {
    // systemd runs the host with DynamicUser=yes, i.e. not as root: the kernel enforces
    // RLIMIT_NPROC (limits.processes) for such a uid. A uid of our own, so no other process counts.
    const uid_t uid = 50000 + static_cast<uid_t>(getpid() % 10000);
    Sandbox sb;
    sb.add_fixture("memory_bomb");
    sb.add_fixture("ok_marker");
    const fs::path markers = sb.root() / "markers";
    fs::create_directories(markers);
    fs::create_directories(sb.state());
    ASSERT_EQ(chown(markers.c_str(), uid, uid), 0);
    ASSERT_EQ(chown(sb.state().c_str(), uid, uid), 0);
    auto ok = [&](const std::string& n) {
        return task(n, "ok_marker", "config = { marker = \"" + (markers / n).string() + "\" }");
    };
    sb.write_manifest(ok("h1") + task("forks", "memory_bomb", "timeout = \"2min\"\nconfig = { fork = true }\n"
                                                              "limits = { processes = 32 }") +
                      ok("h2"));
    const std::string ids = std::to_string(uid);
    std::vector<std::string> argv{"/usr/bin/setpriv", "--reuid=" + ids, "--regid=" + ids, "--clear-groups"};
    for (const auto& a : host_argv(sb)) argv.push_back(a);
    auto r = hbtest::run_process(argv, {{"JOURNAL_STREAM", "\x01unset"}}, std::chrono::seconds(180));
    expect_clean(r);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    expect_one_message(r.err, "forks", "failed: fork failed: the process limit held");
    const auto left = wait_no_survivors(sb);
    EXPECT_TRUE(left.empty()) << left.size() << " processes of the fork bomb survived the host";
    kill_survivors(sb);
    EXPECT_TRUE(fs::exists(markers / "h1"));
    EXPECT_TRUE(fs::exists(markers / "h2"));
    EXPECT_TRUE(history_has(sb, "h2", "ok", ""));
    EXPECT_TRUE(history_has(sb, "forks", "failed", "process limit"));
}

namespace {

// A pids cgroup of our own (v1 or v2) with pids.max set, removed at the end.
class PidsCgroup {
public:
    explicit PidsCgroup(int max) {
        const std::string name = "hb-fault-" + std::to_string(getpid());
        for (const fs::path& base : {fs::path("/sys/fs/cgroup/pids"), fs::path("/sys/fs/cgroup")}) {
            std::error_code ec;
            if (!fs::exists(base / "cgroup.procs", ec)) continue;
            const fs::path dir = base / name;
            if (!fs::create_directory(dir, ec) || !fs::exists(dir / "pids.max", ec)) {
                fs::remove(dir, ec);
                why_ += base.string() + ": " + (ec ? ec.message() : "no pids controller") + "; ";
                continue;
            }
            std::ofstream(dir / "pids.max") << max;
            dir_ = dir;
            return;
        }
    }
    ~PidsCgroup() {
        if (dir_.empty()) return;
        std::error_code ec;
        fs::remove(dir_, ec);
    }
    [[nodiscard]] const fs::path& dir() const { return dir_; }
    [[nodiscard]] const std::string& why() const { return why_; }

private:
    fs::path dir_;
    std::string why_;
};

}  // namespace

TEST(Faults, Case07_ForkBombOfARootHostIsReportedAndSweptWithNothingSurviving) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "not root: the non-root variant covers this";
    }
    // As root the kernel ignores RLIMIT_NPROC, so limits.processes cannot hold and a fork bomb
    // would exhaust the machine's PIDs (pid_max here is small). A pids cgroup stands in for the
    // systemd unit's TasksMax= as the kernel's safety net; the host's part is to report the task and
    // to kill every process of the bomb (process group kill + subreaper sweep).
    PidsCgroup cg(200);
    if (cg.dir().empty()) {
        GTEST_SKIP() << "no pids cgroup can be created here (" << cg.why()
                     << "), and a root fork bomb without one would exhaust the machine's PIDs";
    }
    Sandbox sb;
    sb.add_fixture("memory_bomb");
    sb.write_manifest(healthy(sb, {"h1"}) +
                      task("forks", "memory_bomb", "timeout = \"2min\"\nconfig = { fork = true }\nlimits = { processes = 32 }") +
                      healthy(sb, {"h2"}));
    SpawnOptions o;
    o.argv = host_argv(sb);
    o.cgroup_procs = cg.dir() / "cgroup.procs";
    o.out = sb.root() / "out";
    o.err = sb.root() / "err";
    const pid_t host = spawn(o);
    const auto code = wait_exit(host, std::chrono::seconds(180));
    const std::string err = read_file(o.err);
    EXPECT_EQ(code, std::optional<int>(1)) << err;
    for (const char* report : {"AddressSanitizer", "LeakSanitizer", "runtime error:"})
        EXPECT_EQ(err.find(report), std::string::npos) << err;
    expect_one_message(err, "forks", "failed: fork failed: the process limit held");
    EXPECT_TRUE(wait_no_survivors(sb).empty());
    kill_survivors(sb);
    EXPECT_EQ(read_file(cg.dir() / "cgroup.procs"), "") << "processes of the bomb are still in its cgroup";
    expect_healthy_saved(sb, {"h1", "h2"});
    EXPECT_TRUE(history_has(sb, "forks", "failed", "process limit"));
}
