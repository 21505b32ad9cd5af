// Helpers of the fault suite, on top of the integration harness (tests/integration/harness.h):
// manifests with healthy neighbours, checks that their runs were saved, a scan for processes a run
// left behind, a background runner (extra inherited descriptors, a cgroup), and sanitizer checks.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness.h"

namespace hbfault {

namespace fs = std::filesystem;
using hbtest::ProcessResult;
using hbtest::Sandbox;

// A [[task]] table.
std::string task(const std::string& name, const std::string& plugin, const std::string& extra = "");
// ok_marker tasks named `names` (markers at sb.marker(name)); the fixture is added to the sandbox.
std::string healthy(Sandbox& sb, const std::vector<std::string>& names);
// Copies a plugin built by tests/faults (channel_garbage, hw_fault) into the sandbox.
void add_fault_plugin(const Sandbox& sb, const std::string& name);

// Every healthy task wrote its marker, and `--history --json` shows a run of it with outcome ok.
void expect_healthy_saved(const Sandbox& sb, const std::vector<std::string>& names);
// `--history --json` lines of one task.
std::vector<std::string> history_of(const Sandbox& sb, const std::string& task_name);

// The host finished by itself (the harness did not have to kill it) and no sanitizer reported
// anything (the ASan build runs this suite too).
void expect_clean(const ProcessResult& r);

// Live processes forked from a host that ran this sandbox's manifest: tasks and their descendants
// keep the host's command line (fork without exec), which names the manifest.
std::vector<pid_t> survivors(const Sandbox& sb);
// Waits (bounded) until survivors() is empty; returns what is left.
std::vector<pid_t> wait_no_survivors(const Sandbox& sb, std::chrono::milliseconds limit = std::chrono::seconds(20));
// Kills what survivors() found, so a failed test does not leave processes behind.
void kill_survivors(const Sandbox& sb);

struct SpawnOptions {
    std::vector<std::string> argv;                   // argv[0] is an absolute path
    std::map<std::string, std::string> env;          // added ("\x01unset" removes)
    std::vector<std::pair<int, fs::path>> open_fds;  // opened read-only at this number, inherited
    std::optional<fs::path> cgroup_procs;            // the child joins this cgroup before exec
    fs::path out, err;                               // stdout/stderr go to these files
};
// Starts a process in the background; stdin is /dev/null.
pid_t spawn(const SpawnOptions& options);
// The exit code, -signal when killed by a signal, or nullopt when it did not exit within `limit`
// (it is then killed with SIGKILL and reaped).
std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds limit = std::chrono::seconds(120));
bool wait_for_file(const fs::path& p, std::chrono::milliseconds limit = std::chrono::seconds(60));

// The host's argv for this sandbox plus `args`.
std::vector<std::string> host_argv(const Sandbox& sb, const std::vector<std::string>& args = {});

// `PRAGMA integrity_check` through the sqlite3 command line tool: "ok" when the file is sound.
std::string sqlite_integrity(const fs::path& db);
// Every file under `dir` with its bytes, for "nothing changed" checks.
std::map<std::string, std::string> snapshot(const fs::path& dir);

// True when this test binary was built with AddressSanitizer (and so were the host and plugins).
constexpr bool kAsanBuild =
#if defined(__SANITIZE_ADDRESS__)
    true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    true;
#else
    false;
#endif
#else
    false;
#endif

}  // namespace hbfault
