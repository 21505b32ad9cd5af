// The retention plugin, run for real over real directory trees.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "harness.h"

namespace fs = std::filesystem;
using hbtest::run_plugin;
using hbtest::set_age;
using hbtest::TempDir;
using hbtest::toml_config;
using hbtest::write_file;

namespace {

constexpr int64_t kDay = 86400;

hbtest::Outcome run_retention(const std::string& toml) { return run_plugin(HB_TEST_PLUGIN_RETENTION, toml_config(toml)); }

std::string dir_key(const TempDir& d) { return "directory = \"" + d.path().string() + "\"\n"; }

// A file of `size` bytes, `age_days` old.
void aged(const fs::path& p, int64_t age_days, size_t size = 10) {
    write_file(p, std::string(size, 'x'));
    set_age(p, age_days * kDay);
}

}  // namespace

TEST(Retention, MaxAgeRemovesOnlyOlderFiles) {
    TempDir d;
    aged(d / "old1.log", 40);
    aged(d / "old2.log", 31);
    aged(d / "new.log", 29);
    aged(d / "today.log", 0);
    const auto o = run_retention(dir_key(d) + "max_age = \"30d\"");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_EQ(o.plugin_name, "retention");
    EXPECT_FALSE(fs::exists(d / "old1.log"));
    EXPECT_FALSE(fs::exists(d / "old2.log"));
    EXPECT_TRUE(fs::exists(d / "new.log"));
    EXPECT_TRUE(fs::exists(d / "today.log"));
    EXPECT_TRUE(o.logged("removed 2 files, 20 B")) << o;
}

TEST(Retention, MaxAgeAcceptsIntegerSecondsAndCompoundSpans) {
    TempDir d;
    aged(d / "a", 2);
    aged(d / "b", 0);
    auto o = run_retention(dir_key(d) + "max_age = 86400");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_FALSE(fs::exists(d / "a"));
    EXPECT_TRUE(fs::exists(d / "b"));

    write_file(d / "c", "x");
    set_age(d / "c", 3 * 3600);  // 3 h old
    o = run_retention(dir_key(d) + "max_age = \"2h 30min\"");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_FALSE(fs::exists(d / "c"));
    EXPECT_TRUE(fs::exists(d / "b"));
}

TEST(Retention, KeepNewestKeepsThatManyByModificationTime) {
    TempDir d;
    for (int i = 1; i <= 6; ++i) aged(d / ("backup-" + std::to_string(i) + ".tar"), i);
    const auto o = run_retention(dir_key(d) + "keep_newest = 3");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    for (int i = 1; i <= 3; ++i) EXPECT_TRUE(fs::exists(d / ("backup-" + std::to_string(i) + ".tar"))) << i;
    for (int i = 4; i <= 6; ++i) EXPECT_FALSE(fs::exists(d / ("backup-" + std::to_string(i) + ".tar"))) << i;
    EXPECT_TRUE(o.logged("removed 3 files")) << o;
}

TEST(Retention, MaxTotalSizeKeepsTheNewestThatFit) {
    TempDir d;
    aged(d / "f1", 1, 1024);  // newest
    aged(d / "f2", 2, 1024);
    aged(d / "f3", 3, 1024);
    aged(d / "f4", 4, 100);  // small, but older than one that did not fit: goes too
    const auto o = run_retention(dir_key(d) + "max_total_size = \"2.5K\"");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_TRUE(fs::exists(d / "f1"));
    EXPECT_TRUE(fs::exists(d / "f2"));
    EXPECT_FALSE(fs::exists(d / "f3"));
    EXPECT_FALSE(fs::exists(d / "f4"));
    EXPECT_TRUE(o.logged("removed 2 files, 1.1 KiB")) << o;
}

TEST(Retention, MinKeepProtectsTheNewestEvenWhenAllAreTooOld) {
    TempDir d;
    for (int i = 1; i <= 4; ++i) aged(d / ("b" + std::to_string(i)), 100 + i);
    const auto o = run_retention(dir_key(d) + "max_age = \"30d\"\nmin_keep = 2");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_TRUE(fs::exists(d / "b1"));
    EXPECT_TRUE(fs::exists(d / "b2"));
    EXPECT_FALSE(fs::exists(d / "b3"));
    EXPECT_FALSE(fs::exists(d / "b4"));
}

TEST(Retention, PatternsMatchThePathRelativeToTheDirectory) {
    TempDir d;
    aged(d / "app.log", 10);
    aged(d / "app.log.gz", 10);
    aged(d / "keep.txt", 10);
    aged(d / "sub/deep.log", 10);
    aged(d / "sub/deep.txt", 10);
    aged(d / "other/x.log", 10);
    const auto o = run_retention(dir_key(d) + R"(
        max_age = "1d"
        recursive = true
        patterns = ["*.log", "sub/*.txt"])");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_FALSE(fs::exists(d / "app.log"));
    EXPECT_TRUE(fs::exists(d / "app.log.gz"));
    EXPECT_TRUE(fs::exists(d / "keep.txt"));
    EXPECT_FALSE(fs::exists(d / "sub/deep.log"));  // '*' matches '/' too, as fnmatch without FNM_PATHNAME
    EXPECT_FALSE(fs::exists(d / "sub/deep.txt"));
    EXPECT_FALSE(fs::exists(d / "other/x.log"));
    EXPECT_TRUE(o.logged("removed 4 files")) << o;
}

TEST(Retention, NotRecursiveLeavesSubdirectoriesAlone) {
    TempDir d;
    aged(d / "top", 10);
    aged(d / "sub/below", 10);
    const auto o = run_retention(dir_key(d) + "max_age = \"1d\"");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_FALSE(fs::exists(d / "top"));
    EXPECT_TRUE(fs::exists(d / "sub/below"));
    EXPECT_TRUE(fs::is_directory(d / "sub"));
}

TEST(Retention, NeverFollowsOrDeletesThroughSymlinks) {
    TempDir outside;
    aged(outside / "precious.db", 100);
    aged(outside / "dir/precious2", 100);
    TempDir d;
    aged(d / "old", 100);
    fs::create_symlink(outside / "precious.db", d / "link-to-file");
    fs::create_directories(d / "sub");
    fs::create_directory_symlink(outside / "dir", d / "sub/link-to-dir");
    set_age(d / "link-to-file", 100 * kDay);
    set_age(d / "sub/link-to-dir", 100 * kDay);
    const auto o = run_retention(dir_key(d) + R"(
        max_age = "1d"
        recursive = true
        delete_empty_dirs = true)");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_FALSE(fs::exists(d / "old"));
    EXPECT_TRUE(fs::exists(outside / "precious.db"));
    EXPECT_TRUE(fs::exists(outside / "dir/precious2"));
    EXPECT_TRUE(fs::is_symlink(d / "link-to-file"));
    EXPECT_TRUE(fs::is_symlink(d / "sub/link-to-dir"));
    EXPECT_TRUE(fs::is_directory(d / "sub"));  // holds a symlink, so it is not empty
    EXPECT_TRUE(o.logged("removed 1 file,")) << o;
}

TEST(Retention, LeavesFifosAndOtherSpecialFilesAlone) {
    TempDir d;
    ASSERT_EQ(::mkfifo((d / "pipe").c_str(), 0600), 0);
    set_age(d / "pipe", 100 * kDay);
    const auto o = run_retention(dir_key(d) + "max_age = \"1d\"");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_TRUE(fs::exists(d / "pipe"));
    EXPECT_TRUE(o.logged("removed 0 files")) << o;
}

TEST(Retention, DryRunRemovesNothingAndSaysWhatItWould) {
    TempDir d;
    aged(d / "old1", 10, 2048);
    aged(d / "sub/old2", 10, 2048);
    aged(d / "fresh", 0);
    const auto o = run_retention(dir_key(d) + R"(
        max_age = "1d"
        recursive = true
        delete_empty_dirs = true
        dry_run = true)");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_TRUE(fs::exists(d / "old1"));
    EXPECT_TRUE(fs::exists(d / "sub/old2"));
    EXPECT_TRUE(o.logged("would remove 'old1'")) << o;
    EXPECT_TRUE(o.logged("would remove 'sub/old2'")) << o;
    EXPECT_TRUE(o.logged("would remove empty directory 'sub'")) << o;
    EXPECT_TRUE(o.logged("would remove 2 files, 4.0 KiB and 1 empty directory")) << o;
}

TEST(Retention, DeleteEmptyDirsRemovesDirectoriesLeftEmptyButNeverTheTop) {
    TempDir d;
    aged(d / "a/b/old", 10);
    aged(d / "a/keep/new", 0);
    aged(d / "c/old", 10);
    aged(d / "top-old", 10);
    const auto o = run_retention(dir_key(d) + R"(
        max_age = "1d"
        recursive = true
        delete_empty_dirs = true)");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_FALSE(fs::exists(d / "a/b"));
    EXPECT_FALSE(fs::exists(d / "c"));
    EXPECT_TRUE(fs::exists(d / "a/keep/new"));
    EXPECT_TRUE(fs::is_directory(d.path()));
    EXPECT_TRUE(o.logged("removed 3 files, 30 B and 2 empty directories")) << o;
}

TEST(Retention, KeepsDirectoriesWithoutDeleteEmptyDirs) {
    TempDir d;
    aged(d / "a/old", 10);
    const auto o = run_retention(dir_key(d) + "max_age = \"1d\"\nrecursive = true");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_FALSE(fs::exists(d / "a/old"));
    EXPECT_TRUE(fs::is_directory(d / "a"));
}

TEST(Retention, MissingDirectoryFailsNamingIt) {
    TempDir d;
    const auto o = run_retention("directory = \"" + (d / "nope").string() + "\"\nmax_age = \"1d\"");
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_NE(o.error.find((d / "nope").string()), std::string::npos) << o;
    EXPECT_NE(o.error.find("No such file or directory"), std::string::npos) << o;
}

TEST(Retention, StopsWhenAskedTo) {
    TempDir d;
    aged(d / "old", 10);
    hbtest::RunOptions opts;
    opts.stop_after_ms = 0;
    const auto o = run_plugin(HB_TEST_PLUGIN_RETENTION, toml_config(dir_key(d) + "max_age = \"1d\""), opts);
    EXPECT_EQ(o.status, HB_STATUS_CANCELLED) << o;
    EXPECT_TRUE(fs::exists(d / "old"));
}

struct BadConfig {
    std::string toml;
    std::string expected;  // in the error message
    friend void PrintTo(const BadConfig& b, std::ostream* os) { *os << "config expecting '" << b.expected << "'"; }
};

class RetentionBadConfig : public testing::TestWithParam<BadConfig> {};

TEST_P(RetentionBadConfig, FailsNamingTheKey) {
    TempDir d;
    std::string toml = GetParam().toml;
    if (const auto pos = toml.find("@DIR@"); pos != std::string::npos) toml.replace(pos, 5, d.path().string());
    const auto o = run_retention(toml);
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_NE(o.error.find(GetParam().expected), std::string::npos) << "expected '" << GetParam().expected << "'\n" << o;
}

INSTANTIATE_TEST_SUITE_P(
    Retention, RetentionBadConfig,
    testing::Values(BadConfig{"max_age = \"1d\"", "missing config key 'directory'"},
                    BadConfig{"directory = \"@DIR@\"\nmax_age = \"1d\"\nmaxage = 3", "unknown config key 'maxage'"},
                    BadConfig{"directory = \"@DIR@\"\nmax_age = true", "config key 'max_age' must be a time span"},
                    BadConfig{"directory = \"@DIR@\"\nmax_age = \"3 fortnights\"", "unknown unit 'fortnights'"},
                    BadConfig{"directory = \"@DIR@\"\nmax_total_size = \"5MB\"", "write M or MiB"},
                    BadConfig{"directory = \"@DIR@\"\nkeep_newest = -1", "'keep_newest' must not be negative"},
                    BadConfig{"directory = \"@DIR@\"\nkeep_newest = \"3\"", "'keep_newest' must be an integer"},
                    BadConfig{"directory = \"@DIR@\"\nmax_age = \"1d\"\nrecursive = \"yes\"",
                              "'recursive' must be a boolean"},
                    BadConfig{"directory = \"@DIR@\"\nmax_age = \"1d\"\npatterns = [\"*.log\", 3]",
                              "'patterns.1' must be a string"},
                    BadConfig{"directory = \"@DIR@\"", "at least one limit"},
                    BadConfig{"directory = \"relative/dir\"\nmax_age = \"1d\"", "'directory' must be an absolute path"},
                    BadConfig{"directory = \"@DIR@\"\nmax_age = \"1d\"\ndelete_empty_dirs = true",
                              "'delete_empty_dirs' needs 'recursive = true'"}));
