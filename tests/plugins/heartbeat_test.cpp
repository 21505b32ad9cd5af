// The heartbeat plugin (plain C), writing real files.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>

#include "harness.h"

namespace fs = std::filesystem;
using hbtest::Outcome;
using hbtest::read_file;
using hbtest::run_plugin;
using hbtest::TempDir;
using hbtest::toml_config;

namespace {

Outcome run_heartbeat(const std::string& toml) { return run_plugin(HB_TEST_PLUGIN_HEARTBEAT, toml_config(toml)); }
Outcome beat(const fs::path& p) { return run_heartbeat("path = \"" + p.string() + "\""); }

size_t entries(const fs::path& dir) {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
    return n;
}

}  // namespace

TEST(Heartbeat, WritesIsoTimeAndUnixSecondsOnOneLine) {
    TempDir d;
    const int64_t before = ::time(nullptr);
    const auto o = beat(d / "beat");
    const int64_t after = ::time(nullptr);
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_EQ(o.plugin_name, "heartbeat");

    const std::string content = read_file(d / "beat");
    ASSERT_FALSE(content.empty());
    EXPECT_EQ(content.back(), '\n');
    EXPECT_EQ(content.find('\n'), content.size() - 1) << content;
    std::tm tm{};
    char z = 0;
    long long unix_seconds = 0;
    ASSERT_EQ(std::sscanf(content.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c %lld", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                          &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z, &unix_seconds),
              8)
        << content;
    EXPECT_EQ(z, 'Z');
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    EXPECT_EQ(::timegm(&tm), unix_seconds) << "the ISO time and the Unix seconds disagree: " << content;
    EXPECT_GE(unix_seconds, before);
    EXPECT_LE(unix_seconds, after);
}

TEST(Heartbeat, ReplacesTheFileByRenameLeavingNoTemporaryFiles) {
    TempDir d;
    hbtest::write_file(d / "beat", "old content\n");
    // A reader holding the old file keeps seeing the old content: the file is replaced, not
    // rewritten in place (which is what makes the update atomic for readers).
    const int old_fd = ::open((d / "beat").c_str(), O_RDONLY);
    ASSERT_GE(old_fd, 0);
    struct stat old_st{};
    ASSERT_EQ(::fstat(old_fd, &old_st), 0);

    const auto o = beat(d / "beat");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;

    char buf[64] = {};
    ASSERT_GT(::pread(old_fd, buf, sizeof buf - 1, 0), 0);
    ::close(old_fd);
    EXPECT_STREQ(buf, "old content\n");
    EXPECT_NE(read_file(d / "beat"), "old content\n");
    struct stat new_st{};
    ASSERT_EQ(::stat((d / "beat").c_str(), &new_st), 0);
    EXPECT_NE(new_st.st_ino, old_st.st_ino);
    EXPECT_EQ(new_st.st_mode & 07777, 0644u);
    EXPECT_EQ(entries(d.path()), 1u) << "a temporary file was left behind";
}

TEST(Heartbeat, ReplacesASymlinkItselfNeverItsTarget) {
    TempDir d;
    hbtest::write_file(d / "target", "precious\n");
    fs::create_symlink(d / "target", d / "beat");
    const auto o = beat(d / "beat");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_EQ(read_file(d / "target"), "precious\n");
    EXPECT_FALSE(fs::is_symlink(d / "beat"));
    EXPECT_TRUE(fs::is_regular_file(d / "beat"));
}

TEST(Heartbeat, MissingDirectoryFailsNamingIt) {
    TempDir d;
    const auto o = beat(d / "no-such-dir/beat");
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_EQ(o.error, "cannot create a temporary file in '" + (d / "no-such-dir").string() +
                           "': No such file or directory")
        << o;
}

TEST(Heartbeat, PathThatIsADirectoryFailsAndCleansUp) {
    TempDir d;
    fs::create_directories(d / "beat/inside");
    const auto o = beat(d / "beat");
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_NE(o.error.find("cannot rename"), std::string::npos) << o;
    EXPECT_NE(o.error.find((d / "beat").string()), std::string::npos) << o;
    EXPECT_EQ(entries(d.path()), 1u) << "the temporary file was left behind";
}

struct BadConfig {
    std::string toml;
    std::string expected;
    friend void PrintTo(const BadConfig& b, std::ostream* os) { *os << "config expecting '" << b.expected << "'"; }
};

class HeartbeatBadConfig : public testing::TestWithParam<BadConfig> {};

TEST_P(HeartbeatBadConfig, FailsNamingTheKey) {
    const auto o = run_heartbeat(GetParam().toml);
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_EQ(o.error, GetParam().expected) << o;
}

INSTANTIATE_TEST_SUITE_P(
    Heartbeat, HeartbeatBadConfig,
    testing::Values(BadConfig{"", "missing config key 'path'"},
                    BadConfig{"path = 3", "config key 'path' must be a string"},
                    BadConfig{"path = \"beat\"", "config key 'path' must be an absolute file name, not 'beat'"},
                    BadConfig{"path = \"/tmp/\"", "config key 'path' must be an absolute file name, not '/tmp/'"},
                    BadConfig{"path = \"/tmp/x\"\nmode = \"0644\"",
                              "unknown config key 'mode' (heartbeat knows only 'path')"}));
