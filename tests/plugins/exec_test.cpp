// The exec plugin, running real commands.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "harness.h"

namespace fs = std::filesystem;
using hbtest::Outcome;
using hbtest::run_plugin;
using hbtest::TempDir;
using hbtest::toml_config;

namespace {

Outcome run_exec(const std::string& toml, const hbtest::RunOptions& opts = {}) {
    return run_plugin(HB_TEST_PLUGIN_EXEC, toml_config(toml), opts);
}

// A TOML string literal (basic string, escaped).
std::string q(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

std::string sh(const std::string& script) { return "command = [\"sh\", \"-c\", " + q(script) + "]\n"; }

// True while `pid` exists and is not a zombie.
bool alive(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return false;
    const auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

// Waits (bounded) for a process to be gone: signals are asynchronous.
bool gone_soon(pid_t pid) {
    for (int i = 0; i < 500; ++i) {
        if (!alive(pid)) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

pid_t read_pid(const fs::path& p) { return static_cast<pid_t>(std::stol(hbtest::read_file(p))); }

}  // namespace

TEST(Exec, SucceedsAndLogsBothStreams) {
    const auto o = run_exec(sh("echo hello; echo 'to stderr' >&2"));
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_EQ(o.plugin_name, "exec");
    EXPECT_TRUE(o.logged("hello")) << o;
    EXPECT_TRUE(o.logged("to stderr")) << o;
    EXPECT_TRUE(o.error.empty()) << o;
}

TEST(Exec, PassesArgumentsVerbatimWithoutAShell) {
    const auto o = run_exec(R"(command = ["printf", "%s|", "a b", "$HOME", "*", "'q'"])");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_TRUE(o.logged("a b|$HOME|*|'q'|")) << o;
}

TEST(Exec, NonZeroExitFailsWithTheStatusAndTheLastStderrLine) {
    auto o = run_exec(sh("echo progress; echo 'CommandError: no such table' >&2; echo >&2; exit 3"));
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_EQ(o.error, "exited with status 3: CommandError: no such table") << o;
    EXPECT_TRUE(o.logged("progress")) << o;

    o = run_exec(R"(command = ["false"])");
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_EQ(o.error, "exited with status 1") << o;
}

TEST(Exec, DeathBySignalIsNamed) {
    auto o = run_exec(sh("ulimit -c 0; kill -SEGV $$"));
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_EQ(o.error, "killed by signal SIGSEGV") << o;
    o = run_exec(sh("kill -KILL $$"));
    EXPECT_EQ(o.error, "killed by signal SIGKILL") << o;
}

TEST(Exec, CommandNotFoundIsReportedClearly) {
    auto o = run_exec(R"(command = ["housebrain-no-such-command", "x"])");
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_NE(o.error.find("cannot run 'housebrain-no-such-command': command not found in PATH"), std::string::npos)
        << o;

    o = run_exec(R"(command = ["/nonexistent/dir/tool"])");
    EXPECT_EQ(o.error, "cannot run '/nonexistent/dir/tool': No such file or directory") << o;
}

TEST(Exec, NonExecutableFileIsReported) {
    TempDir d;
    hbtest::write_file(d / "script", "#!/bin/sh\necho hi\n");
    fs::permissions(d / "script", fs::perms::owner_read | fs::perms::owner_write);
    if (::geteuid() == 0 && ::access((d / "script").c_str(), X_OK) == 0)
        GTEST_SKIP() << "this filesystem lets root execute a file without execute bits";
    const auto o = run_exec("command = [" + q((d / "script").string()) + "]");
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_EQ(o.error, "cannot run '" + (d / "script").string() + "': Permission denied") << o;
}

TEST(Exec, RunsInCwd) {
    TempDir d;
    auto o = run_exec("command = [\"pwd\"]\ncwd = " + q(d.path().string()));
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_TRUE(o.logged(d.path().string())) << o;

    o = run_exec("command = [\"pwd\"]\ncwd = " + q((d / "missing").string()));
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_EQ(o.error, "cannot change to directory '" + (d / "missing").string() +
                           "' (config key 'cwd'): No such file or directory")
        << o;
}

TEST(Exec, EnvAddsToTheInheritedEnvironment) {
    ::setenv("HB_TEST_INHERITED", "from-parent", 1);
    const auto o = run_exec(sh("echo \"$GREETING/$HB_TEST_INHERITED/$DJANGO_SETTINGS_MODULE\"") +
                            "env = { GREETING = \"hi there\", DJANGO_SETTINGS_MODULE = \"site.settings\" }");
    ::unsetenv("HB_TEST_INHERITED");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_TRUE(o.logged("hi there/from-parent/site.settings")) << o;
}

TEST(Exec, PathFromEnvIsUsedToFindTheCommand) {
    TempDir d;
    hbtest::write_file(d / "mytool", "#!/bin/sh\necho mytool ran\n");
    fs::permissions(d / "mytool", fs::perms::owner_all);
    const auto o = run_exec("command = [\"mytool\"]\nenv = { PATH = " + q(d.path().string() + ":/usr/bin:/bin") + " }");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_TRUE(o.logged("mytool ran")) << o;
}

TEST(Exec, StdinIsEmpty) {
    const auto o = run_exec(R"(command = ["cat"])");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
}

TEST(Exec, DeadlineTerminatesTheCommandAndItsChildren) {
    TempDir d;
    hbtest::RunOptions opts;
    opts.deadline_unix_ms = hbtest::now_unix_ms() + 500;
    const auto o = run_exec(sh("echo $$ > " + (d / "pid").string() + "; sleep 60 & echo $! > " + (d / "child").string() +
                               "; wait"),
                            opts);
    // Cancelled, not failed: the host classifies a cancelled run after the deadline as timed out.
    EXPECT_EQ(o.status, HB_STATUS_CANCELLED) << o;
    EXPECT_EQ(o.error, "deadline reached; 'sh' was stopped with SIGTERM") << o;
    EXPECT_TRUE(o.logged("deadline reached; sending SIGTERM to sh -c 'echo $$ > ")) << o;
    EXPECT_TRUE(gone_soon(read_pid(d / "pid")));
    EXPECT_TRUE(gone_soon(read_pid(d / "child")));
}

TEST(Exec, CommandIgnoringSigtermGetsSigkill) {
    TempDir d;
    hbtest::RunOptions opts;
    opts.deadline_unix_ms = hbtest::now_unix_ms() + 300;
    const auto o = run_exec(sh("trap '' TERM; echo $$ > " + (d / "pid").string() + "; while :; do sleep 0.1; done"), opts);
    EXPECT_EQ(o.status, HB_STATUS_CANCELLED) << o;
    EXPECT_EQ(o.error, "deadline reached; 'sh' was stopped with SIGKILL") << o;
    EXPECT_TRUE(o.logged("sh still running 3 s after SIGTERM; sending SIGKILL")) << o;
    EXPECT_TRUE(gone_soon(read_pid(d / "pid")));
}

TEST(Exec, ShouldStopCancelsTheRun) {
    TempDir d;
    hbtest::RunOptions opts;
    opts.stop_after_ms = 300;
    const auto o = run_exec(sh("echo $$ > " + (d / "pid").string() + "; exec sleep 60"), opts);
    EXPECT_EQ(o.status, HB_STATUS_CANCELLED) << o;
    EXPECT_EQ(o.error, "stopped on request; 'sh' was stopped with SIGTERM") << o;
    EXPECT_TRUE(gone_soon(read_pid(d / "pid")));
}

TEST(Exec, SigtermToTheTaskStopsTheCommand) {
    // What the host does on shutdown: SIGTERM to the task's process group, whose handler makes
    // should_stop() true. The command sits in its own group, so only the plugin can pass it on.
    TempDir d;
    hbtest::RunOptions opts;
    opts.sigterm_after_ms = 500;
    const auto o = run_exec(sh("echo $$ > " + (d / "pid").string() + "; exec sleep 60"), opts);
    EXPECT_EQ(o.status, HB_STATUS_CANCELLED) << o;
    EXPECT_TRUE(o.logged("asked to stop; sending SIGTERM")) << o;
    EXPECT_TRUE(gone_soon(read_pid(d / "pid")));
}

TEST(Exec, FloodOfOutputIsCappedAndDoesNotBlock) {
    const auto o = run_exec(sh("i=0; while [ $i -lt 3000 ]; do "
                               "echo 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'"
                               "; i=$((i+1)); done; yes | head -c 5000000 >&2; echo done"));
    ASSERT_EQ(o.status, HB_STATUS_OK) << o.error;
    size_t logged = 0;
    for (const auto& l : o.logs) logged += l.text.size();
    EXPECT_LE(logged, 300u * 1024u);
    EXPECT_TRUE(o.logged("output truncated")) << o.logs.size();
}

TEST(Exec, LogsTheCommandQuotedAsAShellWouldNeedIt) {
    hbtest::RunOptions opts;
    opts.deadline_unix_ms = hbtest::now_unix_ms() + 300;
    const auto o = run_exec(R"(command = ["sh", "-c", "exec sleep 60", "it's", "", "plain-1.0/x=y"])", opts);
    EXPECT_TRUE(o.logged(R"(sending SIGTERM to sh -c 'exec sleep 60' 'it'\''s' '' plain-1.0/x=y)")) << o;
}

TEST(Exec, LongLinesAreSplit) {
    const auto o = run_exec(sh("head -c 10000 /dev/zero | tr '\\0' 'y'; echo"));
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    size_t ys = 0;
    for (const auto& l : o.logs) {
        if (l.level != HB_LOG_INFO) continue;  // the command's output, not the plugin's own debug line
        EXPECT_LE(l.text.size(), 4096u);
        ys += static_cast<size_t>(std::count(l.text.begin(), l.text.end(), 'y'));
    }
    EXPECT_EQ(ys, 10000u);
}

struct BadConfig {
    std::string toml;
    std::string expected;
    friend void PrintTo(const BadConfig& b, std::ostream* os) { *os << "config expecting '" << b.expected << "'"; }
};

class ExecBadConfig : public testing::TestWithParam<BadConfig> {};

TEST_P(ExecBadConfig, FailsNamingTheKey) {
    const auto o = run_exec(GetParam().toml);
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_NE(o.error.find(GetParam().expected), std::string::npos) << "expected '" << GetParam().expected << "'\n" << o;
}

INSTANTIATE_TEST_SUITE_P(
    Exec, ExecBadConfig,
    testing::Values(BadConfig{"cwd = \"/\"", "missing config key 'command'"},
                    BadConfig{"command = \"python3 manage.py clearsessions\"", "'command' must be an array of strings"},
                    BadConfig{"command = []", "'command' must name a program"},
                    BadConfig{"command = [\"\"]", "'command' must name a program"},
                    BadConfig{"command = [\"echo\", 3]", "'command.1' must be a string"},
                    BadConfig{"command = [\"true\"]\ntimeout = \"5s\"", "unknown config key 'timeout'"},
                    BadConfig{"command = [\"true\"]\ncwd = 3", "'cwd' must be a string"},
                    BadConfig{"command = [\"true\"]\nenv = \"A=B\"", "'env' must be a table"},
                    BadConfig{"command = [\"true\"]\nenv = { A = 1 }", "'env.A' must be a string"}));
