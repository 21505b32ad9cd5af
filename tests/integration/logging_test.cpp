// Issue 5 (logs): journald priorities when stderr is the journal stream, quiet healthy ticks,
// loud failures naming task, outcome and run id, plugin output tagged with the task.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>

#include "harness.h"

using namespace hbtest;

namespace {

// Runs the binary with stderr on a pipe whose dev:ino is announced in $JOURNAL_STREAM, as
// systemd does when StandardError=journal.
ProcessResult run_as_if_journal(const Sandbox& sb, const std::vector<std::string>& args) {
    int err[2];
    if (pipe(err) != 0) throw std::runtime_error("pipe");
    struct stat st {};
    fstat(err[1], &st);
    const std::string stream = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(err[1], 2);
        const int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        close(err[0]);
        setenv("JOURNAL_STREAM", stream.c_str(), 1);
        exec_host(sb, args);
    }
    close(err[1]);
    ProcessResult r;
    char buf[4096];
    ssize_t n;
    while ((n = read(err[0], buf, sizeof buf)) > 0) r.err.append(buf, static_cast<size_t>(n));
    close(err[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

}  // namespace

TEST(Logging, UnderJournaldEveryLineCarriesASyslogPriorityAndNoTimestamp) {
    Sandbox sb;
    sb.add_fixture("ok_marker");
    sb.add_fixture("crash_segv");
    sb.add_fixture("fail_message");
    sb.write_manifest(ok_task(sb, "fine") + "[[task]]\nname = \"segv\"\nplugin = \"crash_segv\"\n" +
                      "[[task]]\nname = \"fails\"\nplugin = \"fail_message\"\n");
    auto r = run_as_if_journal(sb, {"--log-level", "debug"});
    EXPECT_EQ(r.exit_code, 1);
    const auto lines = lines_of(r.err);
    ASSERT_FALSE(lines.empty());
    for (const auto& l : lines) {
        ASSERT_GE(l.size(), 3u) << l;
        EXPECT_TRUE(l[0] == '<' && l[1] >= '0' && l[1] <= '7' && l[2] == '>') << l;
        EXPECT_EQ(l.find("2026-"), std::string::npos) << "no timestamp under journald: " << l;
    }
    EXPECT_NE(r.err.find("<3>task 'segv' crashed: killed by SIGSEGV (run "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("<3>task 'fails' failed: backup target unreachable (run "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("<6>[fails] about to fail"), std::string::npos) << "plugin lines are tagged:\n" << r.err;
    EXPECT_NE(r.err.find("<7>task 'fine' ok"), std::string::npos) << r.err;
}

TEST(Logging, AHealthyTickWritesAtMostOneLineAtInfoAndNothingAboveIt) {
    Sandbox sb;
    sb.add_fixture("ok_marker");
    sb.write_manifest(ok_task(sb, "a") + ok_task(sb, "b") + ok_task(sb, "c"));
    auto r = run_as_if_journal(sb, {});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const auto lines = lines_of(r.err);
    EXPECT_LE(lines.size(), 1u) << r.err;
    for (const auto& l : lines) EXPECT_TRUE(l.starts_with("<6>") || l.starts_with("<7>")) << l;
    EXPECT_TRUE(fs::exists(sb.marker("c")));
}

TEST(Logging, FirstFailureAfterSuccessAndRecoveryAreCalledOut) {
    Sandbox sb;
    sb.add_fixture("ok_marker", "flip.so");
    sb.write_manifest("[[task]]\nname = \"flip\"\nplugin = \"flip\"\n");
    EXPECT_EQ(run_as_if_journal(sb, {}).exit_code, 0);
    fs::remove(sb.plugins() / "flip.so");
    sb.add_fixture("fail_message", "flip.so");
    auto failed = run_as_if_journal(sb, {});
    EXPECT_NE(failed.err.find("<3>task 'flip' failed: backup target unreachable"), std::string::npos) << failed.err;
    EXPECT_NE(failed.err.find("(first failure after success)"), std::string::npos) << failed.err;
    fs::remove(sb.plugins() / "flip.so");
    sb.add_fixture("ok_marker", "flip.so");
    auto recovered = run_as_if_journal(sb, {});
    EXPECT_NE(recovered.err.find("<4>task 'flip' ok: recovered after 1 failed run(s) (run "), std::string::npos)
        << recovered.err;
}

TEST(Logging, OnATerminalLinesAreReadableWithTimestampsAndLevels) {
    Sandbox sb;
    sb.add_fixture("crash_segv");
    sb.write_manifest("[[task]]\nname = \"segv\"\nplugin = \"crash_segv\"\n");
    auto r = sb.run();
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err.find("<3>"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(" error   task 'segv' crashed"), std::string::npos) << r.err;
}

TEST(Logging, BufferedStdioOutputOfAPluginReachesTheLogTaggedWithTheTask) {
    Sandbox sb;
    sb.add_fixture("printf_output");
    sb.write_manifest("");
    auto r = sb.run({"--log-level", "debug"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("[printf_output] hello from printf"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("[printf_output] and from stderr"), std::string::npos) << r.err;
}
