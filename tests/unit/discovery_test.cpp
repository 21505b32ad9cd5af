#include "discovery.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

using namespace hb;
namespace fs = std::filesystem;

namespace {
struct TempDir {
    fs::path path;
    TempDir() {
        std::string t = "/tmp/hb-disc-XXXXXX";
        path = mkdtemp(t.data());
        chmod(path.c_str(), 0755);
    }
    ~TempDir() { fs::remove_all(path); }
    void file(const std::string& name, mode_t mode = 0644) const {
        std::ofstream(path / name) << "x";
        chmod((path / name).c_str(), mode);
    }
};
}  // namespace

TEST(Discovery, LeftoversAreIgnoredWithAReason) {
    EXPECT_EQ(ignore_reason("heartbeat.so"), "");
    EXPECT_EQ(ignore_reason(".heartbeat.so.swp"), "hidden file");
    EXPECT_EQ(ignore_reason("heartbeat.so~"), "editor backup");
    EXPECT_NE(ignore_reason("heartbeat.so.dpkg-new").find("package or admin leftover"), std::string::npos);
    EXPECT_NE(ignore_reason("heartbeat.so.dpkg-old").find(".dpkg-old"), std::string::npos);
    EXPECT_NE(ignore_reason("x.so.bak").find("editor or backup"), std::string::npos);
    EXPECT_EQ(ignore_reason("README.md"), "not a .so file");
    EXPECT_EQ(ignore_reason("#x.so#"), "editor autosave");
}

TEST(Discovery, EveryFileIsAccountedForInNameOrder) {
    TempDir d;
    d.file("b.so");
    d.file("a.so");
    d.file("a.so~");
    d.file("w.so", 0666);
    fs::create_directory(d.path / "sub.so");
    fs::create_symlink(d.path / "a.so", d.path / "link.so");
    fs::create_hard_link(d.path / "b.so", d.path / "hard.so");
    mkfifo((d.path / "fifo.so").c_str(), 0644);
    auto inv = scan_plugins_dir(d.path);
    EXPECT_TRUE(inv.dir_problem.empty()) << inv.dir_problem;
    std::vector<std::string> names;
    for (const auto& f : inv.files) names.push_back(f.name);
    EXPECT_EQ(names, (std::vector<std::string>{"a.so", "a.so~", "b.so", "fifo.so", "hard.so", "link.so", "sub.so", "w.so"}));
    EXPECT_EQ(inv.find("a.so")->verdict, FileVerdict::plugin);
    EXPECT_EQ(inv.find("a.so~")->verdict, FileVerdict::ignored);
    EXPECT_EQ(inv.find("b.so")->verdict, FileVerdict::refused);  // hard-linked
    EXPECT_EQ(inv.find("fifo.so")->verdict, FileVerdict::refused);
    EXPECT_EQ(inv.find("link.so")->verdict, FileVerdict::refused);
    EXPECT_EQ(inv.find("sub.so")->verdict, FileVerdict::ignored);
    EXPECT_EQ(inv.find("sub.so")->reason, "a directory");
    EXPECT_EQ(inv.find("w.so")->verdict, FileVerdict::refused);
}

TEST(Discovery, SafetyChecksRefuseWithTheReason) {
    TempDir d;
    d.file("ok.so");
    d.file("w.so", 0666);
    d.file("g.so", 0664);
    d.file("b.so");
    fs::create_hard_link(d.path / "b.so", d.path / "hard.so");
    fs::create_symlink(d.path / "ok.so", d.path / "link.so");
    mkfifo((d.path / "fifo.so").c_str(), 0644);
    d.file("other.so");
    ASSERT_EQ(chown((d.path / "other.so").c_str(), 65534, 65534), 0);

    EXPECT_TRUE(open_checked_plugin(d.path, "ok.so"));
    EXPECT_NE(open_checked_plugin(d.path, "w.so").error().message.find("group- or world-writable (mode 0666)"),
              std::string::npos);
    EXPECT_NE(open_checked_plugin(d.path, "g.so").error().message.find("group- or world-writable"), std::string::npos);
    EXPECT_NE(open_checked_plugin(d.path, "hard.so").error().message.find("has 2 hard links"), std::string::npos);
    EXPECT_NE(open_checked_plugin(d.path, "link.so").error().message.find("is a symlink"), std::string::npos);
    EXPECT_NE(open_checked_plugin(d.path, "fifo.so").error().message.find("is a FIFO"), std::string::npos);
    if (geteuid() != 65534) {
        EXPECT_NE(open_checked_plugin(d.path, "other.so").error().message.find("owned by uid 65534"), std::string::npos);
    }
    EXPECT_EQ(open_checked_plugin(d.path, "none.so").error().message, "does not exist");

    auto inv = scan_plugins_dir(d.path);
    EXPECT_EQ(inv.find("ok.so")->verdict, FileVerdict::plugin);
    EXPECT_FALSE(inv.find("ok.so")->identity.empty());
    EXPECT_EQ(inv.find("w.so")->verdict, FileVerdict::refused);
    EXPECT_EQ(inv.find("fifo.so")->verdict, FileVerdict::refused);
}

TEST(Discovery, AWritablePluginsDirectoryRefusesEveryPlugin) {
    TempDir d;
    d.file("ok.so");
    chmod(d.path.c_str(), 0777);
    auto inv = scan_plugins_dir(d.path);
    EXPECT_NE(inv.dir_problem.find("plugins directory is group- or world-writable (mode 0777)"), std::string::npos);
    EXPECT_EQ(inv.find("ok.so")->verdict, FileVerdict::refused);
}

TEST(Discovery, MissingDirectoryIsAProblemNotACrash) {
    auto inv = scan_plugins_dir("/nonexistent/plugins");
    EXPECT_NE(inv.dir_problem.find("cannot open plugins directory /nonexistent/plugins"), std::string::npos);
    EXPECT_TRUE(inv.files.empty());
}
