// The disk-space plugin on real filesystems: the test's own, and small tmpfs mounts whose fill
// level the test controls, checked against df(1) as the oracle.
#include <hbplugins/units.hpp>

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "harness.h"

namespace fs = std::filesystem;
using hbtest::Outcome;
using hbtest::run_plugin;
using hbtest::TempDir;
using hbtest::toml_config;

namespace {

Outcome run_disk(const std::string& toml) { return run_plugin(HB_TEST_PLUGIN_DISK_SPACE, toml_config(toml)); }

std::string q(const fs::path& p) { return "\"" + p.string() + "\""; }

// One number from `df --output=<field> <path>` (the oracle).
uint64_t df(const std::string& options, const fs::path& path) {
    const std::string cmd = "df " + options + " " + path.string() + " 2>/dev/null | tail -n 1";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return 0;
    unsigned long long v = 0;
    const int n = std::fscanf(p, "%llu", &v);
    ::pclose(p);
    return n == 1 ? v : 0;
}

// A tmpfs of a given size and inode count, mounted in a private mount namespace of this test
// process (the plugin's process, forked from it, sees it too), so nothing leaks to the machine.
class SmallFs {
public:
    static std::unique_ptr<SmallFs> make(const std::string& options, std::string& why) {
        static bool unshared = false;
        if (!unshared) {
            if (::unshare(CLONE_NEWNS) != 0) {
                why = std::string("cannot create a mount namespace: ") + std::strerror(errno);
                return nullptr;
            }
            if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
                why = std::string("cannot make mounts private: ") + std::strerror(errno);
                return nullptr;
            }
            unshared = true;
        }
        auto fs = std::unique_ptr<SmallFs>(new SmallFs);
        if (::mount("hb-test", fs->dir_.path().c_str(), "tmpfs", 0, options.c_str()) != 0) {
            why = std::string("cannot mount a tmpfs: ") + std::strerror(errno);
            return nullptr;
        }
        fs->mounted_ = true;
        return fs;
    }
    ~SmallFs() {
        if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
    }
    [[nodiscard]] const fs::path& path() const { return dir_.path(); }

private:
    SmallFs() = default;
    TempDir dir_;
    bool mounted_ = false;
};

#define SMALL_FS(var, options)                              \
    std::string why_##var;                                  \
    auto var = SmallFs::make(options, why_##var);           \
    if (!var) GTEST_SKIP() << why_##var;

}  // namespace

TEST(DiskSpace, HealthyFilesystemSummarisesSpaceAndInodes) {
    TempDir d;
    const auto o = run_disk("paths = [" + q(d.path()) + ", \"/\"]\nmin_free = 1\nmin_free_inodes = 1");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_EQ(o.plugin_name, "disk-space");
    ASSERT_EQ(o.logs.size(), 1u) << o;
    EXPECT_TRUE(o.logged(d.path().string() + ": ")) << o;
    EXPECT_TRUE(o.logged("; /: ")) << o;
    EXPECT_TRUE(o.logged(" free (")) << o;
}

TEST(DiskSpace, LowSpaceFailsWithTheFiguresDfShows) {
    SMALL_FS(small, "size=1M,nr_inodes=1000");
    hbtest::write_file(small->path() / "filler", std::string(900 * 1024, 'x'));
    const uint64_t avail = df("-B1 --output=avail", small->path());
    ASSERT_GT(avail, 0u);
    ASSERT_LT(avail, 500u * 1024u);

    const auto o = run_disk("paths = [" + q(small->path()) + "]\nmin_free = \"500K\"");
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_EQ(o.error.find(small->path().string() + ": " + hbplugins::format_bytes(avail) + " free ("), 0u) << o;
    EXPECT_NE(o.error.find("), below 500.0 KiB"), std::string::npos) << o;

    EXPECT_EQ(run_disk("paths = [" + q(small->path()) + "]\nmin_free = \"100K\"").status, HB_STATUS_OK);
}

TEST(DiskSpace, PercentagesAreOfTheFilesystemSize) {
    SMALL_FS(small, "size=1M,nr_inodes=1000");
    hbtest::write_file(small->path() / "filler", std::string(888 * 1024, 'x'));  // 136 KiB of 1 MiB left
    auto o = run_disk("paths = [" + q(small->path()) + "]\nmin_free = \"15%\"");
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_NE(o.error.find("free (13.3%), below 15%"), std::string::npos) << o;
    o = run_disk("paths = [" + q(small->path()) + "]\nmin_free = \"12.5%\"");
    EXPECT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_TRUE(o.logged("free (13.3%)")) << o;
}

TEST(DiskSpace, LowInodesFail) {
    SMALL_FS(small, "size=4M,nr_inodes=100");
    for (int i = 0; i < 95; ++i) hbtest::write_file(small->path() / ("f" + std::to_string(i)), "");
    const uint64_t iavail = df("--output=iavail", small->path());
    ASSERT_EQ(iavail, 4u) << "tmpfs counts inodes differently than this test assumes";

    auto o = run_disk("paths = [" + q(small->path()) + "]\nmin_free_inodes = 10");
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_EQ(o.error, small->path().string() + ": 4 inodes free (4.0%), below 10 inodes") << o;
    o = run_disk("paths = [" + q(small->path()) + "]\nmin_free_inodes = \"5%\"");
    EXPECT_EQ(o.error, small->path().string() + ": 4 inodes free (4.0%), below 5%") << o;
    o = run_disk("paths = [" + q(small->path()) + "]\nmin_free_inodes = \"3%\"\nmin_free = \"1M\"");
    EXPECT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_TRUE(o.logged(small->path().string() + ": 4.0 MiB free (100.0%), 4 inodes free (4.0%)")) << o;
}

TEST(DiskSpace, NamesEachPathBelowItsThresholdAndOnlyThose) {
    SMALL_FS(small1, "size=1M");
    SMALL_FS(small2, "size=1M");
    SMALL_FS(roomy, "size=64M");
    hbtest::write_file(small1->path() / "filler", std::string(900 * 1024, 'x'));
    hbtest::write_file(small2->path() / "filler", std::string(900 * 1024, 'x'));
    const auto o = run_disk("paths = [" + q(small1->path()) + ", " + q(roomy->path()) + ", " + q(small2->path()) +
                            "]\nmin_free = \"1M\"");
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_NE(o.error.find(small1->path().string() + ": "), std::string::npos) << o;
    EXPECT_NE(o.error.find("; " + small2->path().string() + ": "), std::string::npos) << o;
    EXPECT_EQ(o.error.find(roomy->path().string()), std::string::npos) << o;
}

TEST(DiskSpace, MissingPathFailsNamingIt) {
    TempDir d;
    const auto o = run_disk("paths = [" + q(d / "gone") + "]\nmin_free = \"1K\"");
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_EQ(o.error, (d / "gone").string() + ": cannot check: No such file or directory") << o;
}

TEST(DiskSpace, OneStringIsAcceptedForPaths) {
    const auto o = run_disk("paths = \"/\"\nmin_free = 0");
    EXPECT_EQ(o.status, HB_STATUS_OK) << o;
}

struct BadConfig {
    std::string toml;
    std::string expected;
    friend void PrintTo(const BadConfig& b, std::ostream* os) { *os << "config expecting '" << b.expected << "'"; }
};

class DiskSpaceBadConfig : public testing::TestWithParam<BadConfig> {};

TEST_P(DiskSpaceBadConfig, FailsNamingTheKey) {
    const auto o = run_disk(GetParam().toml);
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_NE(o.error.find(GetParam().expected), std::string::npos) << "expected '" << GetParam().expected << "'\n" << o;
}

INSTANTIATE_TEST_SUITE_P(
    DiskSpace, DiskSpaceBadConfig,
    testing::Values(BadConfig{"min_free = \"1G\"", "missing config key 'paths'"},
                    BadConfig{"paths = []\nmin_free = \"1G\"", "'paths' must name at least one path"},
                    BadConfig{"paths = [\"var\"]\nmin_free = \"1G\"", "'paths' must hold absolute paths"},
                    BadConfig{"paths = [\"/\"]", "at least one of 'min_free' and 'min_free_inodes'"},
                    BadConfig{"paths = [\"/\"]\nmin_free = \"lots\"", "config key 'min_free': invalid size 'lots'"},
                    BadConfig{"paths = [\"/\"]\nmin_free = \"110%\"", "config key 'min_free': percentage '110%' is over 100%"},
                    BadConfig{"paths = [\"/\"]\nmin_free = 1.5", "config key 'min_free' must be a size"},
                    BadConfig{"paths = [\"/\"]\nmin_free = -5", "config key 'min_free' must not be negative"},
                    BadConfig{"paths = [\"/\"]\nmin_free_inodes = \"1M\"", "config key 'min_free_inodes' must be an integer count"},
                    BadConfig{"paths = [\"/\"]\nmin_free = \"1G\"\nmax_used = \"90%\"", "unknown config key 'max_used'"}));
