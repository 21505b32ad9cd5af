// Cases 2, 8-11 and 25: plugin files that must not load, or must fail to load on their own. The
// constructor-crash fixture (ctor_crash, HB_TEST_CTOR_TRACE) proves whether a file was ever loaded.
#include <elf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <fstream>

#include "discovery.h"
#include "fault_support.h"
#include "plugin_loader.h"

using namespace hbfault;
using hbtest::count_occurrences;
using hbtest::read_file;
using hbtest::write_file;

namespace {

const std::string kPassTrace = "pass_env = [\"HB_TEST_CTOR_TRACE\"]\n";

fs::path trace_of(const Sandbox& sb) { return sb.root() / "ctor-trace"; }
std::map<std::string, std::string> trace_env(const Sandbox& sb) { return {{"HB_TEST_CTOR_TRACE", trace_of(sb).string()}}; }

// A copy of ok_marker.so with one byte of its ELF header changed.
void add_patched(Sandbox& sb, const std::string& as, size_t offset, unsigned char byte) {
    sb.add_fixture("ok_marker", as);
    std::fstream f(sb.plugins() / as, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(static_cast<char>(byte));
}

// Runs the binary with every read-only action and then a real run; the constructor trace must
// stay empty throughout. Returns the real run's result.
hbtest::ProcessResult run_everything(const Sandbox& sb) {
    for (const auto& action : std::vector<std::vector<std::string>>{{"--list"}, {"--list", "--json"}, {"--check"}, {"--dry-run"}}) {
        auto r = sb.run(action, trace_env(sb));
        expect_clean(r);
    }
    auto r = sb.run({}, trace_env(sb));
    expect_clean(r);
    return r;
}

}  // namespace

TEST(Faults, Case02_ConstructorCrashWhileLoadingFailsOnlyThatPluginAndOnlyInAChild) {
    Sandbox sb;
    sb.add_fixture("ctor_crash");
    sb.add_fixture("ctor_crash", "dropin_ctor.so");  // a drop-in copy, not named by the manifest
    sb.write_manifest(healthy(sb, {"h1"}) + task("ctor", "ctor_crash") + healthy(sb, {"h2"}), kPassTrace);
    auto r = sb.run({}, trace_env(sb));
    expect_clean(r);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    for (const char* t : {"ctor", "dropin_ctor"})
        EXPECT_NE(r.err.find("task '" + std::string(t) + "' load-error: crashed while loading (SIGSEGV"), std::string::npos)
            << r.err;
    // The constructor ran once per load, each time in a child the host outlived.
    EXPECT_EQ(count_occurrences(read_file(trace_of(sb)), "constructor ran"), 2u);
    auto list = sb.run({"--list", "--json"}, trace_env(sb));
    expect_clean(list);
    EXPECT_NE(list.out.find("\"name\":\"ctor\",\"plugin_file\":\"ctor_crash.so\""), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("\"problem\":\"load-error: crashed while loading (SIGSEGV"), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("\"last_outcome\":\"load-error\""), std::string::npos) << list.out;
    expect_healthy_saved(sb, {"h1", "h2"});
    EXPECT_TRUE(wait_no_survivors(sb).empty());
}

TEST(Faults, Case08_NotElfEmptyTruncatedWrongArchitectureNoEntryAndOtherAbiEachGetTheirOwnClearLoadError) {
    Sandbox sb;
    for (const char* f : {"not_elf", "empty", "no_entry", "abi_v2"}) sb.add_fixture(f);
    add_patched(sb, "aarch64.so", offsetof(Elf64_Ehdr, e_machine), EM_AARCH64);  // little-endian low byte
    add_patched(sb, "class32.so", EI_CLASS, ELFCLASS32);
    {
        const std::string whole = read_file(hbtest::fixture_dir() / "ok_marker.so");
        write_file(sb.plugins() / "truncated.so", whole.substr(0, 200));
    }
    struct Expect {
        std::string task, message;
    };
    const std::vector<Expect> expects{
        {"not_elf", "cannot load: not an ELF file"},
        {"empty", "cannot load: empty file (0 bytes)"},
        {"truncated", "cannot load: truncated ELF file (200 bytes"},
        {"aarch64", "cannot load: built for AArch64, this host runs x86-64 (wrong architecture)"},
        {"class32", "cannot load: built for 32-bit"},
        {"no_entry", "no entry symbol 'housebrain_plugin_entry'"},
        {"abi_v2", "plugin speaks ABI 2.0, host speaks ABI 1.0"},
    };
    std::string manifest = healthy(sb, {"first"});
    for (const auto& e : expects) manifest += task(e.task, e.task) + healthy(sb, {"after-" + e.task});
    sb.write_manifest(manifest);
    auto r = sb.run();
    expect_clean(r);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    std::vector<std::string> healthy_names{"first"};
    for (const auto& e : expects) {
#if !defined(__x86_64__)
        if (e.task == "aarch64") continue;
#endif
        EXPECT_NE(r.err.find("task '" + e.task + "' load-error: " + e.message), std::string::npos)
            << "expected '" << e.message << "' in:\n" << r.err;
        EXPECT_EQ(count_occurrences(r.err, "task '" + e.task + "' "), 1u) << r.err;
        healthy_names.push_back("after-" + e.task);
    }
    auto check = sb.run({"--check"});
    expect_clean(check);
    EXPECT_EQ(check.exit_code, 1);
    EXPECT_EQ(count_occurrences(check.out, "problem: task '"), expects.size()) << check.out;
    expect_healthy_saved(sb, healthy_names);
    EXPECT_TRUE(wait_no_survivors(sb).empty());
}

TEST(Faults, Case09_UnsafePluginFilesAreRefusedWithTheReasonAndNeverLoaded) {
    Sandbox sb;
    const auto ctor = [&](const std::string& as, fs::perms mode) {
        sb.add_fixture("ctor_crash", as);
        fs::permissions(sb.plugins() / as, mode);
    };
    using P = fs::perms;
    const P rw_r_r = P::owner_read | P::owner_write | P::group_read | P::others_read;
    ctor("group_writable.so", rw_r_r | P::group_write);
    ctor("world_writable.so", rw_r_r | P::others_write);
    ctor("other_owner.so", rw_r_r);
    ASSERT_EQ(chown((sb.plugins() / "other_owner.so").c_str(), 65534, 65534), 0);
    // A symlink to a file that would pass every check on its own.
    sb.add_fixture("ctor_crash", "../outside.so");
    fs::permissions(sb.root() / "outside.so", rw_r_r);
    fs::create_symlink(sb.root() / "outside.so", sb.plugins() / "symlink.so");
    // A hard link: the same inode is also reachable from a place the checks do not cover.
    ctor("hard_linked.so", rw_r_r);
    fs::create_hard_link(sb.plugins() / "hard_linked.so", sb.root() / "hard-link-elsewhere");
    ASSERT_EQ(mkfifo((sb.plugins() / "fifo.so").c_str(), 0644), 0);
    ctor("dropin_world_writable.so", rw_r_r | P::others_write);  // not in the manifest

    struct Expect {
        std::string file, reason;
    };
    const std::vector<Expect> expects{
        {"group_writable.so", "file is group- or world-writable (mode 0664)"},
        {"world_writable.so", "file is group- or world-writable (mode 0646)"},
        {"other_owner.so", "file is owned by uid 65534, not root or uid " + std::to_string(geteuid())},
        {"symlink.so", "is a symlink"},
        {"hard_linked.so", "has 2 hard links"},
        {"fifo.so", "is a FIFO, not a regular file"},
    };
    std::string manifest = healthy(sb, {"first"});
    for (const auto& e : expects) {
        const std::string name = e.file.substr(0, e.file.size() - 3);
        manifest += task(name, e.file) + healthy(sb, {"after-" + name});
    }
    sb.write_manifest(manifest, kPassTrace);

    auto r = run_everything(sb);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_FALSE(fs::exists(trace_of(sb))) << "a refused plugin was loaded: its constructor ran";
    std::vector<std::string> healthy_names{"first"};
    for (const auto& e : expects) {
        const std::string name = e.file.substr(0, e.file.size() - 3);
        EXPECT_NE(r.err.find("task '" + name + "' refused: plugin " + e.file + " refused: " + e.reason), std::string::npos)
            << "expected '" << e.reason << "' for " << e.file << " in:\n" << r.err;
        EXPECT_EQ(count_occurrences(r.err, "task '" + name + "' "), 1u) << r.err;
        healthy_names.push_back("after-" + name);
    }
    EXPECT_NE(r.err.find("plugin dropin_world_writable.so refused: file is group- or world-writable (mode 0646)"),
              std::string::npos)
        << r.err;
    auto list = sb.run({"--list", "--json"});
    for (const auto& e : expects)
        EXPECT_NE(list.out.find("{\"file\":\"" + e.file + "\",\"reason\":\""), std::string::npos)
            << e.file << " is not listed as refused:\n" << list.out;
    EXPECT_NE(list.out.find("{\"file\":\"dropin_world_writable.so\",\"reason\":\"file is group- or world-writable"),
              std::string::npos)
        << list.out;
    expect_healthy_saved(sb, healthy_names);
}

TEST(Faults, Case09_PluginsDirectoryWritableByOthersOrOwnedBySomeoneElseRefusesEveryFileAndLoadsNone) {
    struct DirCase {
        std::string what;
        fs::perms mode;
        uid_t owner;
        std::string reason;
    };
    using P = fs::perms;
    const P base = P::owner_all | P::group_read | P::group_exec | P::others_read | P::others_exec;
    const std::vector<DirCase> cases{
        {"world-writable", base | P::others_write, 0, "plugins directory is group- or world-writable (mode 0757)"},
        {"group-writable", base | P::group_write, 0, "plugins directory is group- or world-writable (mode 0775)"},
        {"sticky like /tmp", base | P::group_write | P::others_write | P::sticky_bit, 0,
         "plugins directory is group- or world-writable (mode 1777)"},
        {"owned by nobody", base, 65534, "plugins directory is owned by uid 65534"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        Sandbox sb;
        sb.add_fixture("ctor_crash");
        sb.write_manifest(healthy(sb, {"h"}) + task("ctor", "ctor_crash"), kPassTrace);
        fs::permissions(sb.plugins(), c.mode);
        if (c.owner != 0) {
            ASSERT_EQ(chown(sb.plugins().c_str(), c.owner, c.owner), 0);
        }
        auto r = run_everything(sb);
        EXPECT_EQ(r.exit_code, 1) << r.err;
        EXPECT_FALSE(fs::exists(trace_of(sb))) << "a plugin from an unsafe directory was loaded";
        EXPECT_NE(r.err.find("plugins directory: " + c.reason), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("task 'ctor' refused: plugin ctor_crash.so refused: " + c.reason), std::string::npos) << r.err;
        // Nothing from that directory runs, not even the healthy plugin; its refusal is saved.
        EXPECT_FALSE(fs::exists(sb.marker("h")));
        const auto h = history_of(sb, "h");
        ASSERT_EQ(h.size(), 1u);
        EXPECT_NE(h[0].find("\"outcome\":\"refused\""), std::string::npos) << h[0];
    }
}

namespace {

// In a forked child (as the host's task process would): load the plugin through the descriptor
// and report the name in its descriptor.
std::string name_loaded_through(int fd) {
    int p[2];
    if (pipe(p) != 0) return "pipe failed";
    const pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        auto loaded = hb::load_plugin_fd(fd);
        const std::string name = loaded ? loaded->summary.name : "load failed: " + loaded.error().message;
        [[maybe_unused]] auto n = write(p[1], name.data(), name.size());
        _exit(0);
    }
    close(p[1]);
    std::string out;
    char buf[256];
    for (ssize_t n; (n = read(p[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    close(p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return out;
}

}  // namespace

TEST(Faults, Case10_FileSwappedAfterTheCheckIsNeverTheOneLoaded) {
    Sandbox sb;
    sb.add_fixture("ok_marker", "target.so");
    sb.add_fixture("suggests_defaults", "other.so");
    auto checked = hb::open_checked_plugin(sb.plugins(), "target.so");
    ASSERT_TRUE(checked) << checked.error().message;
    struct stat before {};
    ASSERT_EQ(fstat(checked->fd.get(), &before), 0);

    // Swap 1: another plugin renamed over the checked path.
    fs::rename(sb.plugins() / "other.so", sb.plugins() / "target.so");
    EXPECT_EQ(name_loaded_through(checked->fd.get()), "ok_marker");
    // Swap 2: the path becomes a symlink to that other plugin.
    fs::remove(sb.plugins() / "target.so");
    sb.add_fixture("suggests_defaults", "../elsewhere.so");
    fs::create_symlink(sb.root() / "elsewhere.so", sb.plugins() / "target.so");
    EXPECT_EQ(name_loaded_through(checked->fd.get()), "ok_marker");
    // The identity recorded for quarantine and history is the checked file's.
    EXPECT_EQ(checked->identity.substr(0, checked->identity.find(':', checked->identity.find(':') + 1)),
              std::to_string(before.st_dev) + ":" + std::to_string(before.st_ino));
    // And what is at the path now is refused when it is opened for a run.
    auto again = hb::open_checked_plugin(sb.plugins(), "target.so");
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().message.find("symlink"), std::string::npos) << again.error().message;
}

TEST(Faults, Case10_ThroughTheBinaryAFileReplacedBetweenRunsIsCheckedAgainAndItsIdentityRecorded) {
    Sandbox sb;
    sb.add_fixture("ok_marker", "swapped.so");
    sb.write_manifest(healthy(sb, {"h"}) + task("swapped", "swapped"));
    auto first = sb.run({"--run-task", "swapped"});
    expect_clean(first);
    EXPECT_EQ(first.exit_code, 0) << first.err;
    // Replaced by a world-writable file through rename (atomic, as an attacker would): refused.
    sb.add_fixture("ctor_crash", "../new.so");
    fs::permissions(sb.root() / "new.so", fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                                              fs::perms::others_read | fs::perms::others_write);
    fs::rename(sb.root() / "new.so", sb.plugins() / "swapped.so");
    auto second = sb.run({}, trace_env(sb));
    expect_clean(second);
    EXPECT_NE(second.err.find("task 'swapped' refused: plugin swapped.so refused: file is group- or world-writable"),
              std::string::npos)
        << second.err;
    EXPECT_FALSE(fs::exists(trace_of(sb)));
    expect_healthy_saved(sb, {"h"});
}

TEST(Faults, Case11_EditorAndPackageLeftoversAreIgnoredListedAndNeverLoaded) {
    Sandbox sb;
    const std::vector<std::pair<std::string, std::string>> leftovers{
        {".plug.so.swp", "hidden file"},
        {"plug.so~", "editor backup"},
        {"plug.so.dpkg-new", "package or admin leftover (.dpkg-new)"},
        {"plug.so.dpkg-old", "package or admin leftover (.dpkg-old)"},
        {"plug.so.ucf-dist", "package or admin leftover (.ucf-dist)"},
        {"#plug.so#", "editor autosave"},
        {"plug.so.bak", "editor or backup file (.bak)"},
        {"plug.so.disabled", "package or admin leftover (.disabled)"},
    };
    // Each leftover is a loadable copy of the constructor-crash plugin: loading any of them leaves a trace.
    for (const auto& [name, why] : leftovers) sb.add_fixture("ctor_crash", name);
    sb.write_manifest(healthy(sb, {"h1", "h2"}), kPassTrace);
    auto r = run_everything(sb);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(fs::exists(trace_of(sb))) << "a leftover file was loaded";
    auto list = sb.run({"--list", "--json"});
    for (const auto& [name, why] : leftovers)
        EXPECT_NE(list.out.find("{\"file\":\"" + name + "\",\"reason\":\"" + why + "\"}"), std::string::npos)
            << name << " not listed as ignored (" << why << "):\n" << list.out;
    auto text = sb.run({"--list"});
    EXPECT_NE(text.out.find("ignored files:"), std::string::npos);
    EXPECT_NE(text.out.find("plug.so~: editor backup"), std::string::npos) << text.out;
    expect_healthy_saved(sb, {"h1", "h2"});
}

TEST(Faults, Case25_ExecutableStackPluginUnderMemoryDenyWriteExecuteFailsToLoadClearlyAndTheOthersRun) {
    Sandbox sb;
    sb.add_fixture("execstack");
    sb.write_manifest(healthy(sb, {"h1"}) + task("needs_exec_stack", "execstack") + healthy(sb, {"h2"}));
    // Control: without the restriction the plugin is fine.
    auto plain = sb.run({"--run-task", "needs_exec_stack"});
    expect_clean(plain);
    ASSERT_EQ(plain.exit_code, 0) << plain.err;

    std::vector<std::string> argv{HB_MDWE_EXEC};
    for (const auto& a : host_argv(sb)) argv.push_back(a);
    auto r = hbtest::run_process(argv, {{"JOURNAL_STREAM", "\x01unset"}});
    if (r.exit_code == 77) {
        GTEST_SKIP() << "the kernel has no PR_SET_MDWE (Linux 6.3+) to stand in for MemoryDenyWriteExecute=: " << r.err;
    }
    expect_clean(r);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("task 'needs_exec_stack' load-error: cannot load: cannot enable executable stack"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("linked with an executable stack, -z execstack, which MemoryDenyWriteExecute="),
              std::string::npos)
        << r.err;
    EXPECT_EQ(count_occurrences(r.err, "task 'needs_exec_stack' "), 1u) << r.err;
    expect_healthy_saved(sb, {"h1", "h2"});
    const auto h = history_of(sb, "needs_exec_stack");
    ASSERT_EQ(h.size(), 2u);
    EXPECT_NE(h[0].find("\"outcome\":\"load-error\""), std::string::npos) << h[0];
}
