#include "manifest.h"

#include <gtest/gtest.h>
#include <housebrain/plugin.h>

using namespace hb;

namespace {
Result<Manifest> parse(const std::string& text) { return parse_manifest(text, "/etc/hb/manifest.toml", "/plugins"); }
}  // namespace

TEST(Manifest, TasksKeepManifestOrderAndDefaults) {
    auto m = parse(R"(
[settings]
plugins_dir = "lib/plugins"
default_timeout = 90
history_limit = 5
[[task]]
name = "zz"
plugin = "exec.so"
[[task]]
name = "aa"
plugin = "exec"
enabled = false
timeout = "1h 30min"
every = "15min"
retry_on_failure = true
env = { A = "1" }
limits = { address_space = "512M", open_files = 64, cpu = "1min" }
[task.config]
command = ["echo", "hi"]
nested = { deep = 3 }
[[task]]
name = "heartbeat"
)");
    ASSERT_TRUE(m) << m.error().message;
    ASSERT_EQ(m->tasks.size(), 3u);
    EXPECT_EQ(m->tasks[0].name, "zz");
    EXPECT_EQ(m->tasks[1].name, "aa");
    EXPECT_EQ(m->tasks[1].plugin, "exec.so");
    EXPECT_EQ(m->tasks[2].plugin, "heartbeat.so");  // defaults to the task name
    EXPECT_FALSE(m->tasks[1].enabled);
    EXPECT_EQ(*m->tasks[1].timeout, std::chrono::minutes(90));
    EXPECT_EQ(*m->tasks[1].every, std::chrono::minutes(15));
    EXPECT_EQ(m->tasks[1].max_retries, 3);
    EXPECT_EQ(m->tasks[1].env.at(0).second, "1");
    EXPECT_EQ(*m->tasks[1].limits.address_space_bytes, 512ULL << 20);
    EXPECT_EQ(*m->tasks[1].limits.cpu_seconds, 60u);
    EXPECT_EQ(m->settings.plugins_dir, "/etc/hb/lib/plugins");  // relative to the manifest
    EXPECT_EQ(m->settings.default_timeout, std::chrono::seconds(90));
    EXPECT_EQ(m->settings.history_limit, 5);
    const ConfigValue* v = config_lookup(m->tasks[1].config, "command.1");
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(std::get<std::string>(v->v), "hi");
    EXPECT_EQ(config_lookup(m->tasks[1].config, "nested.deep")->type(), HB_CONFIG_INT);
    EXPECT_EQ(config_lookup(m->tasks[1].config, "command.2"), nullptr);
    EXPECT_EQ(m->tasks[0].config.table()->size(), 0u);
}

TEST(Manifest, FallbackPluginsDirWhenTheManifestSetsNone) {
    auto m = parse("[[task]]\nname = \"a\"\n");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->settings.plugins_dir, "/plugins");
}

TEST(Manifest, ErrorsCarryFileLineAndColumn) {
    struct Case {
        const char* text;
        const char* expect;
    };
    const Case cases[] = {
        {"[[task]]\nname = \"a\"\nfoo = 1\n", "/etc/hb/manifest.toml:3:1: unknown key 'foo' in [[task]]"},
        {"[settings]\nbogus = true\n", "/etc/hb/manifest.toml:2:1: unknown key 'bogus' in [settings]"},
        {"tasks = []\n", "/etc/hb/manifest.toml:1:1: unknown top-level key 'tasks'"},
        {"[[task]]\nname = 5\n", "/etc/hb/manifest.toml:2:8: name must be a string"},
        {"[[task]]\nname = \"a\"\n[[task]]\nname = \"a\"\n", "/etc/hb/manifest.toml:3:1: duplicate task name 'a'"},
        {"[[task]]\nplugin = \"x\"\n", "/etc/hb/manifest.toml:1:1: task without a name"},
        {"[[task]]\nname = \"a\"\nschedule = \"daily\"\nevery = \"1h\"\n", "sets both schedule and every"},
        {"[[task]]\nname = \"a\"\nplugin = \"../evil\"\n", ":3:10: plugin must be a file name inside plugins_dir"},
        {"[settings]\nlog_level = \"loud\"\n", ":2:13: log_level must be one of"},
        {"[[task]]\nname = \"a\"\nlimits = { nice = 3 }\n", ":3:12: unknown key 'nice' in limits"},
        {"[[task]]\nname = \"a\"\ntimeout = -1\n", ":3:11: timeout must be a positive number of seconds"},
        {"x = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n",
         "/etc/hb/manifest.toml:1:"},
        {"[[task]]\nname = \"\xc3\x28\"\n", "/etc/hb/manifest.toml:2:"},
    };
    for (const auto& c : cases) {
        auto m = parse(c.text);
        ASSERT_FALSE(m) << c.text;
        EXPECT_NE(m.error().message.find(c.expect), std::string::npos) << "want: " << c.expect << "\ngot: " << m.error().message;
    }
}

TEST(Manifest, HugeFileIsRefusedBeforeParsing) {
    std::string text = "# " + std::string(kMaxManifestBytes, 'x') + "\n";
    auto m = parse(text);
    ASSERT_FALSE(m);
    EXPECT_NE(m.error().message.find("/etc/hb/manifest.toml:1:1: manifest is larger than"), std::string::npos);
}

TEST(Manifest, MissingFileNamesThePath) {
    auto m = load_manifest("/nonexistent/manifest.toml", "/plugins");
    ASSERT_FALSE(m);
    EXPECT_NE(m.error().message.find("/nonexistent/manifest.toml: cannot open manifest"), std::string::npos);
}
