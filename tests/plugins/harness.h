// Test harness for the shipped task plugins.
//
// run_plugin() does what the host's task child does, minus the host: it forks, and the child
// dlopen()s the built .so, negotiates the ABI through housebrain_plugin_entry, and calls run() with
// a real hb_host_services (hb::HostServices over an hb::ConfigValue). Logs, the error and the
// status come back to the test over a pipe. One fresh process per run, as the ABI promises
// plugins. The host's own isolation and protocol are tested elsewhere; run_host() drives the real
// binary for the end-to-end cases.
#pragma once

#include <housebrain/plugin.h>

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "config_value.h"

namespace hbtest {

struct LogLine {
    int32_t level = HB_LOG_INFO;
    std::string text;
};

struct Outcome {
    hb_status status = -1;         // what run() returned; -1 if it never returned
    std::string error;             // last set_error()
    std::vector<LogLine> logs;     // every log() call
    std::string plugin_name;       // descriptor->name
    std::string harness_failure;   // dlopen/entry problems, or the child died

    [[nodiscard]] bool logged(std::string_view needle) const;         // any log line contains it
    [[nodiscard]] std::string log_text() const;                       // all lines, one per line
    [[nodiscard]] size_t count_logged(std::string_view needle) const;
};
std::ostream& operator<<(std::ostream& os, const Outcome& o);

// A [config] table written as TOML text, e.g. R"(directory = "/tmp/x"  max_age = "1d")".
hb::ConfigValue toml_config(std::string_view toml);

struct RunOptions {
    int64_t deadline_unix_ms = 0;  // hb_host_services.deadline_unix_ms
    int64_t stop_after_ms = -1;    // should_stop() turns true this long after the run starts
    int64_t sigterm_after_ms = -1; // the harness SIGTERMs the run's process group, as the host would
    std::string task_dir;          // defaults to a fresh temporary directory
};

// Runs the plugin at `so_path` once, in a child process.
Outcome run_plugin(const std::string& so_path, const hb::ConfigValue& config, const RunOptions& options = {});

// Milliseconds since the Unix epoch, now.
int64_t now_unix_ms();

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it at the end.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    [[nodiscard]] std::filesystem::path operator/(std::string_view rel) const { return path_ / rel; }

private:
    std::filesystem::path path_;
};

// Writes `content` to `path`, creating parent directories.
void write_file(const std::filesystem::path& path, std::string_view content);
std::string read_file(const std::filesystem::path& path);
// Sets a file's mtime to `age_seconds` before now (without following symlinks).
void set_age(const std::filesystem::path& path, int64_t age_seconds);

// The real binary, for end-to-end cases.
struct HostRun {
    int exit_code = -1;
    std::string out, err;
};
// Runs `binary args...` with a bounded wait; captures stdout and stderr.
HostRun run_program(const std::string& binary, const std::vector<std::string>& args);

// A private installation for the real binary: <root>/plugins holding copies of the shipped
// plugins, <root>/state, <root>/data for the tasks' files, and <root>/manifest.toml.
class HostSandbox {
public:
    HostSandbox();
    [[nodiscard]] const std::filesystem::path& root() const { return dir_.path(); }
    [[nodiscard]] std::filesystem::path data() const { return dir_.path() / "data"; }
    // Writes the manifest: a [settings] table pointing at this sandbox, then `tasks` ([[task]]...).
    void write_manifest(const std::string& tasks) const;
    // housebrain-periodic --config <manifest> --run-task <task>
    [[nodiscard]] HostRun run_task(const std::string& task) const;

private:
    TempDir dir_;
};

}  // namespace hbtest
