// Issue 2: discovery, manifest order, drop-ins, ignored files, guarded execution and outcomes,
// --list/--check, exit codes. Every test runs the real binary over real fixture plugins.
#include <gtest/gtest.h>

#include "harness.h"

using namespace hbtest;

namespace {

std::string task(const std::string& name, const std::string& plugin, const std::string& extra = "") {
    return "[[task]]\nname = \"" + name + "\"\nplugin = \"" + plugin + "\"\n" + extra + "\n";
}

}  // namespace

TEST(Core, HealthyTasksRunInManifestOrderAndExitZero) {
    Sandbox sb;
    sb.add_fixture("ok_marker");
    const std::string order = sb.root().string() + "/order";
    sb.write_manifest(
        "[[task]]\nname = \"b\"\nplugin = \"ok_marker\"\nconfig = { marker = \"" + order + "\", text = \"b\" }\n"
        "[[task]]\nname = \"a\"\nplugin = \"ok_marker\"\nconfig = { marker = \"" + order + "\", text = \"a\" }\n"
        "[[task]]\nname = \"c\"\nplugin = \"ok_marker\"\nconfig = { marker = \"" + order + "\", text = \"c\" }\n");
    auto r = sb.run();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_file(order), "b\na\nc\n");  // manifest order, not name order
}

TEST(Core, SegfaultAbortAndHangAreReportedAndTheOthersComplete) {
    Sandbox sb;
    for (auto f : {"ok_marker", "crash_segv", "raise_signal", "hang"}) sb.add_fixture(f);
    sb.write_manifest(ok_task(sb, "first") + task("segv", "crash_segv") + ok_task(sb, "second") +
                      task("abort", "raise_signal", "config = { signal = \"ABRT\" }") + ok_task(sb, "third") +
                      task("hang", "hang", "timeout = 2") + ok_task(sb, "fourth"));
    auto r = sb.run();
    EXPECT_EQ(r.exit_code, 1) << r.err;
    for (auto m : {"first", "second", "third", "fourth"}) EXPECT_TRUE(fs::exists(sb.marker(m))) << m << "\n" << r.err;
    EXPECT_NE(r.err.find("task 'segv' crashed: killed by SIGSEGV"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("task 'abort' crashed: killed by SIGABRT"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("task 'hang' timed-out"), std::string::npos) << r.err;
}

TEST(Core, EachFaultyPluginGetsItsOwnOutcome) {
    Sandbox sb;
    for (auto f : {"ok_marker", "exit_in_run", "throws", "fail_message", "ctor_crash", "no_entry", "abi_v2",
                   "not_elf", "empty"})
        sb.add_fixture(f);
    sb.write_manifest(task("exit", "exit_in_run") + task("throws", "throws") + task("fails", "fail_message") +
                      task("ctor", "ctor_crash") + task("noentry", "no_entry") + task("abi", "abi_v2") +
                      task("notelf", "not_elf") + task("empty", "empty") + ok_task(sb, "last"),
                      "pass_env = [\"HB_TEST_CTOR_TRACE\"]\n");
    const std::string trace = sb.root().string() + "/ctor-trace";
    auto r = sb.run({}, {{"HB_TEST_CTOR_TRACE", trace}});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_TRUE(fs::exists(sb.marker("last"))) << r.err;
    EXPECT_NE(r.err.find("task 'exit' no-result: exited with status 7 without reporting a result"), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("task 'throws' failed: database is on fire"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("task 'fails' failed: backup target unreachable"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("task 'ctor' load-error: crashed while loading (SIGSEGV"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("task 'noentry' load-error: no entry symbol 'housebrain_plugin_entry'"), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("task 'abi' load-error: plugin speaks ABI 2.0, host speaks ABI 1.0"), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("task 'notelf' load-error: cannot load: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("task 'empty' load-error: cannot load: "), std::string::npos) << r.err;
    // The constructor did run (in the child), and the host lived on to run the next task.
    EXPECT_EQ(read_file(trace), "constructor ran\n");
}

TEST(Core, DropInsRunAfterManifestTasksInNameOrderAndLeftoversAreIgnored) {
    Sandbox sb;
    sb.add_fixture("ok_marker");
    sb.add_fixture("suggests_defaults", "zeta.so");
    sb.add_fixture("suggests_defaults", "alpha.so");
    write_file(sb.plugins() / "alpha.so~", "backup");
    write_file(sb.plugins() / ".alpha.so.swp", "swap");
    write_file(sb.plugins() / "alpha.so.dpkg-new", "new");
    write_file(sb.plugins() / "README", "text");
    sb.write_manifest(ok_task(sb, "main"));
    auto list = sb.run({"--list", "--json"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    const auto main_pos = list.out.find("\"name\":\"main\"");
    const auto alpha_pos = list.out.find("\"name\":\"alpha\"");
    const auto zeta_pos = list.out.find("\"name\":\"zeta\"");
    ASSERT_NE(main_pos, std::string::npos) << list.out;
    ASSERT_NE(alpha_pos, std::string::npos) << list.out;
    ASSERT_NE(zeta_pos, std::string::npos) << list.out;
    EXPECT_LT(main_pos, alpha_pos);
    EXPECT_LT(alpha_pos, zeta_pos);
    EXPECT_NE(list.out.find("{\"file\":\"alpha.so~\",\"reason\":\"editor backup\"}"), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("{\"file\":\".alpha.so.swp\",\"reason\":\"hidden file\"}"), std::string::npos);
    EXPECT_NE(list.out.find("\"file\":\"alpha.so.dpkg-new\""), std::string::npos);
    EXPECT_NE(list.out.find("{\"file\":\"README\",\"reason\":\"not a .so file\"}"), std::string::npos);
    EXPECT_NE(list.out.find("\"plugin_name\":\"suggests_defaults\",\"plugin_version\":\"2.1.0\""), std::string::npos);
    // The drop-in's own defaults apply: timeout 7 s and schedule hourly.
    EXPECT_NE(list.out.find("\"timeout_sec\":7,\"schedule\":\"hourly\""), std::string::npos) << list.out;

    auto r = sb.run();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(fs::exists(sb.marker("main")));
    EXPECT_EQ(read_file(sb.task_dir("alpha") / "marker"), "ran\n");
    EXPECT_EQ(read_file(sb.task_dir("zeta") / "marker"), "ran\n");
}

TEST(Core, MissingPluginIsReportedAndTheOthersRun) {
    Sandbox sb;
    sb.add_fixture("ok_marker");
    sb.write_manifest(task("ghost", "not_installed") + ok_task(sb, "after"));
    auto r = sb.run();
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_TRUE(fs::exists(sb.marker("after")));
    EXPECT_NE(r.err.find("task 'ghost' missing: plugin file " + (sb.plugins() / "not_installed.so").string() +
                         " does not exist"),
              std::string::npos)
        << r.err;
    auto check = sb.run({"--check"});
    EXPECT_EQ(check.exit_code, 1);
    EXPECT_NE(check.out.find("problem: task 'ghost' (not_installed.so): missing"), std::string::npos) << check.out;
}

TEST(Core, TwoTasksShareOnePluginWithDifferentConfig) {
    Sandbox sb;
    sb.add_fixture("ok_marker");
    sb.write_manifest(ok_task(sb, "one") + ok_task(sb, "two"));
    auto r = sb.run();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_file(sb.marker("one")), "one\n");
    EXPECT_EQ(read_file(sb.marker("two")), "two\n");
}

TEST(Core, ManifestErrorsNameFileLineColumnAndNothingRuns) {
    struct Case {
        std::string body;
        int line, column;  // within body; 0 = not checked
        std::string expect;
    };
    const std::vector<Case> cases{
        {"[[task]]\nname = \"x\"\nplugin = \"ok_marker\"\nbogus = 1\n", 4, 1, "unknown key 'bogus' in [[task]]"},
        {"[[task]]\nname = \"x\"\nenabled = \"yes\"\n", 3, 11, "enabled must be true or false"},
        {"[[task]]\nname = \"x\"\n[[task]]\nname = \"x\"\n", 3, 1, "duplicate task name 'x'"},
        {"[[task]]\nname = \"x\"\nplugin = \n", 3, 10, "Error while parsing key-value pair: expected value"},
        {"[[task]]\nname = \"x\"\ntimeout = \"soon\"\n", 3, 11, "timeout: invalid time span 'soon'"},
        {"[[task]]\nname = \"x\"\nschedule = \"every other tuesday\"\n", 3, 12,
         "invalid calendar expression 'every other tuesday'"},
        {"[[task]]\nname = \"x\"\nenv = { A = 1 }\n", 3, 13, "env value must be a string"},
        {"[[task]]\nname = \"x\"\nconfig = { a = \"\xff\" }\n", 3, 0, ""},
    };
    for (const auto& c : cases) {
        Sandbox sb;
        sb.add_fixture("ok_marker");
        const std::string healthy = ok_task(sb, "healthy");
        const int offset = static_cast<int>(count_occurrences(healthy, "\n"));
        write_file(sb.manifest(), healthy + c.body + "\n[settings]\nplugins_dir = \"" + sb.plugins().string() +
                                      "\"\nstate_dir = \"" + sb.state().string() + "\"\n");
        auto r = sb.run();
        EXPECT_EQ(r.exit_code, 2) << c.body;
        std::string where = sb.manifest().string() + ":" + std::to_string(offset + c.line) + ":";
        if (c.column) where += std::to_string(c.column) + ": ";
        else where.pop_back();
        EXPECT_NE(r.err.find(where + c.expect), std::string::npos) << "expected '" << where << c.expect << "' in:\n" << r.err;
        EXPECT_NE(r.err.find("nothing was run"), std::string::npos) << r.err;
        EXPECT_FALSE(fs::exists(sb.marker("healthy"))) << "a half-read manifest ran a task";
        EXPECT_FALSE(fs::exists(sb.state())) << "a bad manifest touched the state";
    }
}

TEST(Core, CheckIsCleanForHealthyPluginsAndNonZeroOnAnyProblem) {
    Sandbox sb;
    sb.add_fixture("ok_marker");
    sb.write_manifest(ok_task(sb, "a"));
    auto good = sb.run({"--check"});
    EXPECT_EQ(good.exit_code, 0) << good.out << good.err;
    EXPECT_NE(good.out.find("ok:      task 'a': ok_marker 1.0.0 from ok_marker.so"), std::string::npos) << good.out;
    EXPECT_FALSE(fs::exists(sb.marker("a"))) << "--check must not run tasks";

    sb.add_fixture("abi_v2");
    auto bad = sb.run({"--check"});
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.out.find("problem: task 'abi_v2' (abi_v2.so): load-error: plugin speaks ABI 2.0, host speaks ABI 1.0"),
              std::string::npos)
        << bad.out;
}

TEST(Core, RunTaskRunsOnlyThatTask) {
    Sandbox sb;
    sb.add_fixture("ok_marker");
    sb.write_manifest(ok_task(sb, "a") + ok_task(sb, "b") + "[[task]]\nname = \"off\"\nplugin = \"ok_marker\"\n"
                      "enabled = false\nconfig = { marker = \"" + sb.marker("off").string() + "\" }\n");
    auto r = sb.run({"--run-task", "b"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(fs::exists(sb.marker("a")));
    EXPECT_TRUE(fs::exists(sb.marker("b")));
    auto off = sb.run({"--run-task", "off"});  // manual runs ignore `enabled`
    EXPECT_EQ(off.exit_code, 0) << off.err;
    EXPECT_TRUE(fs::exists(sb.marker("off")));
    auto none = sb.run({"--run-task", "nope"});
    EXPECT_EQ(none.exit_code, 2);
    EXPECT_NE(none.err.find("no task named 'nope'"), std::string::npos);
}

TEST(Core, DisabledTaskIsListedButNotRun) {
    Sandbox sb;
    sb.add_fixture("ok_marker");
    sb.write_manifest("[[task]]\nname = \"off\"\nplugin = \"ok_marker\"\nenabled = false\nconfig = { marker = \"" +
                      sb.marker("off").string() + "\" }\n");
    auto r = sb.run();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(fs::exists(sb.marker("off")));
    auto list = sb.run({"--list"});
    EXPECT_NE(list.out.find("off  [disabled]"), std::string::npos) << list.out;
}

TEST(Core, UsageErrorsExitTwo) {
    auto r = run_process({host_binary().string(), "--no-such-option"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("no-such-option"), std::string::npos) << r.err;
    auto v = run_process({host_binary().string(), "--version"});
    EXPECT_EQ(v.exit_code, 0);
    EXPECT_NE(v.out.find("plugin ABI 1.0"), std::string::npos);
}

TEST(Core, QuietCheckForExecStartPrePrintsNothingWhenHealthyAndWarnsOfEachProblem) {
    Sandbox sb;
    sb.add_fixture("ok_marker");
    sb.write_manifest(ok_task(sb, "a"));
    auto good = sb.run({"--check", "--quiet"});
    EXPECT_EQ(good.exit_code, 0);
    EXPECT_EQ(good.out, "");
    EXPECT_EQ(good.err, "");
    sb.add_fixture("no_entry");
    auto bad = sb.run({"--check", "--quiet"});
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_EQ(bad.out, "");
    EXPECT_NE(bad.err.find("warning check: task 'no_entry' (no_entry.so): load-error: no entry symbol"),
              std::string::npos)
        << bad.err;
}
