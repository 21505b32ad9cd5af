// Cases 23 and 24: what a task inherits from the host. The env_probe fixture writes its whole
// environment and its open descriptors to <task_dir>/probe.txt.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "fault_support.h"

using namespace hbfault;
using hbtest::read_file;

namespace {

std::vector<std::string> probe_lines(const Sandbox& sb, const std::string& task_name, const std::string& kind) {
    std::vector<std::string> out;
    std::istringstream in(read_file(sb.task_dir(task_name) / "probe.txt"));
    for (std::string line; std::getline(in, line);)
        if (line.starts_with(kind + " ")) out.push_back(line.substr(kind.size() + 1));
    return out;
}

}  // namespace

TEST(Faults, Case23_LdPreloadLdLibraryPathAndEveryOtherHostVariableOutsideTheAllowlistStayOutOfTheTask) {
    Sandbox sb;
    sb.add_fixture("env_probe");
    sb.write_manifest(healthy(sb, {"h1"}) + task("probe", "env_probe", "env = { FROM_MANIFEST = \"yes\" }") +
                          healthy(sb, {"h2"}),
                      "pass_env = [\"HB_PASSED\"]\n");
    // Preload paths that do not exist: ld.so complains about them for the host itself and goes on.
    auto r = sb.run({}, {{"LD_PRELOAD", "/nonexistent/hb-preload-probe.so"},
                         {"LD_LIBRARY_PATH", "/nonexistent/hb-library-path-probe"},
                         {"GCONV_PATH", "/nonexistent/hb-gconv-probe"},
                         {"PYTHONPATH", "/nonexistent/hb-python-probe"},
                         {"HB_SECRET_TOKEN", "hunter2"},
                         {"HB_PASSED", "passed"},
                         {"LC_TIME", "C"}});
    expect_clean(r);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const auto env = probe_lines(sb, "probe", "env");
    ASSERT_FALSE(env.empty()) << "the probe did not run";
    const std::set<std::string> allowed{"PATH",           "HOME",          "USER",      "LOGNAME",
                                        "LANG",           "LANGUAGE",      "TZ",        "TMPDIR",
                                        "STATE_DIRECTORY", "CONFIGURATION_DIRECTORY", "INVOCATION_ID",
                                        "SHELL",          "HB_PASSED",     "FROM_MANIFEST",
                                        "HOUSEBRAIN_TASK", "HOUSEBRAIN_RUN_ID", "HOUSEBRAIN_TASK_DIR"};
    std::set<std::string> seen;
    for (const auto& kv : env) {
        const std::string name = kv.substr(0, kv.find('='));
        seen.insert(name);
        EXPECT_TRUE(allowed.contains(name) || name.starts_with("LC_")) << "not on the allowlist: " << kv;
    }
    for (const char* absent : {"LD_PRELOAD", "LD_LIBRARY_PATH", "GCONV_PATH", "PYTHONPATH", "HB_SECRET_TOKEN"})
        EXPECT_FALSE(seen.contains(absent)) << absent << " reached the task";
    for (const char* present : {"PATH", "HB_PASSED", "FROM_MANIFEST", "HOUSEBRAIN_TASK", "LC_TIME"})
        EXPECT_TRUE(seen.contains(present)) << present << " is missing from the task's environment";
    EXPECT_NE(std::find(env.begin(), env.end(), "HOUSEBRAIN_TASK=probe"), env.end());
    EXPECT_NE(std::find(env.begin(), env.end(), "HB_PASSED=passed"), env.end());
    expect_healthy_saved(sb, {"h1", "h2"});
}

TEST(Faults, Case24_DescriptorsInheritedByTheHostNeverReachTheTaskWhichSeesOnlyStdioAndItsChannel) {
    Sandbox sb;
    sb.add_fixture("env_probe");
    sb.write_manifest(healthy(sb, {"h1"}) + task("probe", "env_probe") + healthy(sb, {"h2"}));
    // The host starts with extra descriptors open (no close-on-exec), as a careless parent would leave them.
    SpawnOptions o;
    o.argv = host_argv(sb);
    o.open_fds = {{7, sb.manifest()}, {12, "/dev/null"}, {255, sb.manifest()}};
    o.out = sb.root() / "out";
    o.err = sb.root() / "err";
    const auto code = wait_exit(spawn(o));
    const std::string err = read_file(o.err);
    EXPECT_EQ(code, std::optional<int>(0)) << err;
    const auto fds = probe_lines(sb, "probe", "fd");
    ASSERT_FALSE(fds.empty()) << "the probe did not run:\n" << err;
    const std::set<std::string> got(fds.begin(), fds.end());
    // 0 is /dev/null, 1 and 2 the output pipe, 3 the channel to the host.
    EXPECT_EQ(got, (std::set<std::string>{"0", "1", "2", "3"})) << read_file(sb.task_dir("probe") / "probe.txt");
    expect_healthy_saved(sb, {"h1", "h2"});
}
