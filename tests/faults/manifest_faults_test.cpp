// Cases 12 and 13: a manifest the host must not half-read, and a manifest that disagrees with the
// plugins directory.
#include <gtest/gtest.h>

#include <cctype>

#include "fault_support.h"

using namespace hbfault;
using hbtest::count_occurrences;
using hbtest::read_file;
using hbtest::write_file;

namespace {

std::string settings_of(const Sandbox& sb) {
    return "[settings]\nplugins_dir = \"" + sb.plugins().string() + "\"\nstate_dir = \"" + sb.state().string() + "\"\n";
}

}  // namespace

TEST(Faults, Case12_BadManifestNamesFileLineAndColumnRunsNothingAndLeavesTheStateUntouched) {
    struct Bad {
        std::string what;
        std::string body;     // appended after the healthy tasks
        int line;             // of the error, within body (0: the first line of the file)
        std::string message;  // expected after "<file>:<line>:"
    };
    const std::string deep_array = "config = { a = " + std::string(100000, '[') + std::string(100000, ']') + " }\n";
    std::string deep_tables = "config = ";
    for (int i = 0; i < 5000; ++i) deep_tables += "{ a = ";
    deep_tables += "1";
    for (int i = 0; i < 5000; ++i) deep_tables += " }";
    deep_tables += "\n";
    const std::vector<Bad> cases{
        {"syntax error", "[[task]]\nname = \"x\nplugin = \"ok_marker\"\n", 2, ""},
        {"not UTF-8 in a comment", "# caf\xe9 au lait\n", 1, "6: not valid UTF-8 (byte 0xE9)"},
        {"not UTF-8 in a string", "[[task]]\nname = \"caf\xc3\x28\"\n", 2, "12: not valid UTF-8 (byte 0xC3)"},
        {"not UTF-8 at a line start", "\n\xe9t\xe9 = 1\n", 2, "1: not valid UTF-8 (byte 0xE9)"},
        // Found by tests/fuzz: toml++ 3.3 reaches TOML_UNREACHABLE on such a character after a key.
        {"non-ASCII after a key", "[[task]]\nname = \"x\"\nplugin \xcf\xa3= \"y\"\n", 3, "8: non-ASCII character"},
        {"UTF-16 text", std::string("\xff\xfe[\0[\0", 6), 1, "1: not valid UTF-8 (byte 0xFF)"},
        {"deeply nested arrays", "[[task]]\nname = \"deep\"\n" + deep_array, 3,
         "Error while parsing value: exceeded maximum nested value depth of 256"},
        {"deeply nested tables", "[[task]]\nname = \"deep\"\n" + deep_tables, 3,
         "exceeded maximum nested value depth of 256"},
        {"duplicate task names", "[[task]]\nname = \"h1\"\nplugin = \"ok_marker\"\n", 1, "1: duplicate task name 'h1'"},
        {"unknown key", "[[task]]\nname = \"x\"\nschedul = \"daily\"\n", 3, "1: unknown key 'schedul' in [[task]]"},
        {"wrong type", "[[task]]\nname = \"x\"\ntimeout = true\n", 3, "11: timeout must be a time span"},
        {"huge file", "# " + std::string(2 << 20, 'x') + "\n", 0, "1: manifest is larger than 1048576 bytes"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        Sandbox sb;
        const std::string good = healthy(sb, {"h1", "h2"});
        write_file(sb.manifest(), settings_of(sb) + good);
        auto first = sb.run();
        ASSERT_EQ(first.exit_code, 0) << first.err;
        expect_healthy_saved(sb, {"h1", "h2"});
        const auto before = snapshot(sb.state());
        ASSERT_FALSE(before.empty());
        fs::remove(sb.marker("h1"));
        fs::remove(sb.marker("h2"));

        write_file(sb.manifest(), settings_of(sb) + good + c.body);
        const size_t offset = count_occurrences(settings_of(sb) + good, "\n");
        const std::string where = sb.manifest().string() + ":" + std::to_string(c.line ? offset + c.line : 1) + ":";
        for (const auto& action : std::vector<std::vector<std::string>>{{}, {"--list"}, {"--check"}, {"--run-task", "h1"}}) {
            auto r = sb.run(action);
            expect_clean(r);
            EXPECT_EQ(r.exit_code, 2) << r.err.substr(0, 2000);
            EXPECT_NE(r.err.find(where), std::string::npos) << "expected '" << where << "' in:\n" << r.err.substr(0, 2000);
            // A message starting with the column follows the line directly.
            const std::string full = !c.message.empty() && std::isdigit(static_cast<unsigned char>(c.message[0]))
                                         ? where + c.message
                                         : c.message;
            EXPECT_NE(r.err.find(full), std::string::npos) << "expected '" << full << "' in:\n" << r.err.substr(0, 2000);
            EXPECT_NE(r.err.find("nothing was run"), std::string::npos) << r.err.substr(0, 2000);
            EXPECT_EQ(count_occurrences(r.err, "\n"), 1u) << "one clear message:\n" << r.err.substr(0, 2000);
        }
        EXPECT_FALSE(fs::exists(sb.marker("h1"))) << "a task ran from a half-read manifest";
        EXPECT_FALSE(fs::exists(sb.marker("h2"))) << "a task ran from a half-read manifest";
        EXPECT_EQ(snapshot(sb.state()), before) << "the bad manifest changed the state";
    }
}

TEST(Faults, Case12_NonAsciiInQuotedStringsAndCommentsIsFine) {
    Sandbox sb;
    sb.add_fixture("ok_marker");
    write_file(sb.manifest(), settings_of(sb) + "# \xc3\xa9t\xc3\xa9 \xe2\x80\x94 comment\n[[task]]\nname = \"caf\xc3\xa9\"\n"
                              "plugin = \"ok_marker\"\nenv = { \"CL\xc3\x89\" = '\xc3\xa9' }\n[task.config]\nmarker = \"" +
                              sb.marker("caf\xc3\xa9").string() + "\"\ntext = \"\"\"\\\n  na\xc3\xafve \xc2\xa7\"\"\"\n");
    auto r = sb.run();
    expect_clean(r);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_file(sb.marker("caf\xc3\xa9")), "na\xc3\xafve \xc2\xa7\n");
}

TEST(Faults, Case12_AManifestThatCannotBeReadWholeIsAnErrorNotAnEmptyManifest) {
    Sandbox sb;
    sb.add_fixture("ok_marker", "dropin.so");  // would run if the host went on with an empty manifest
    for (const std::string& config : {sb.root().string(), std::string("/dev/zero"), (sb.root() / "absent.toml").string()}) {
        SCOPED_TRACE(config);
        auto r = hbtest::run_process({hbtest::host_binary().string(), "--config", config, "--plugins-dir",
                                      sb.plugins().string(), "--state-dir", sb.state().string()},
                                     {{"JOURNAL_STREAM", "\x01unset"}});
        expect_clean(r);
        EXPECT_EQ(r.exit_code, 2) << r.err;
        EXPECT_NE(r.err.find(config + ":"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("nothing was run"), std::string::npos) << r.err;
        EXPECT_FALSE(fs::exists(sb.task_dir("dropin") / "marker")) << "a drop-in ran without a manifest";
        EXPECT_FALSE(fs::exists(sb.state()));
    }
}

TEST(Faults, Case13_MissingPluginIsReportedAndADropInWithoutManifestEntryRunsWithTheOthers) {
    Sandbox sb;
    sb.add_fixture("ok_marker", "dropin.so");
    sb.write_manifest(healthy(sb, {"h1"}) + task("ghost", "not_installed") + healthy(sb, {"h2"}));
    auto r = sb.run();
    expect_clean(r);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("task 'ghost' missing: plugin file " + (sb.plugins() / "not_installed.so").string() +
                         " does not exist"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(count_occurrences(r.err, "task 'ghost' "), 1u) << r.err;
    EXPECT_EQ(read_file(sb.task_dir("dropin") / "marker"), "dropin\n");
    auto list = sb.run({"--list", "--json"});
    EXPECT_NE(list.out.find("\"name\":\"ghost\",\"plugin_file\":\"not_installed.so\""), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("\"problem\":\"missing: plugin file"), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("\"name\":\"dropin\",\"plugin_file\":\"dropin.so\",\"drop_in\":true"), std::string::npos)
        << list.out;
    const auto ghost = history_of(sb, "ghost");
    ASSERT_EQ(ghost.size(), 1u);
    EXPECT_NE(ghost[0].find("\"outcome\":\"missing\""), std::string::npos);
    const auto dropin = history_of(sb, "dropin");
    ASSERT_EQ(dropin.size(), 1u);
    EXPECT_NE(dropin[0].find("\"outcome\":\"ok\""), std::string::npos);
    expect_healthy_saved(sb, {"h1", "h2"});
}
