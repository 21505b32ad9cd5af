// Test harness for integration tests: a private sandbox (plugins dir, state dir, manifest) and a
// runner for the real housebrain-periodic binary that captures stdout, stderr and the exit code.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hbtest {

namespace fs = std::filesystem;

struct ProcessResult {
    int exit_code = -1;   // -1 when killed by a signal
    int signal = 0;
    bool timed_out = false;
    std::string out, err;
};

// Runs argv with the given extra environment (added to the current one; "NAME" => unset when the
// value is "\x01unset"), killing it after `timeout`.
ProcessResult run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(120));

std::string read_file(const fs::path& p);
void write_file(const fs::path& p, const std::string& text);
size_t count_occurrences(const std::string& haystack, const std::string& needle);

class Sandbox {
public:
    Sandbox();  // a fresh directory under $TMPDIR (or /tmp), removed at destruction
    ~Sandbox();
    Sandbox(const Sandbox&) = delete;
    Sandbox& operator=(const Sandbox&) = delete;

    [[nodiscard]] const fs::path& root() const { return root_; }
    [[nodiscard]] fs::path plugins() const { return root_ / "plugins"; }
    [[nodiscard]] fs::path state() const { return root_ / "state"; }
    [[nodiscard]] fs::path manifest() const { return root_ / "manifest.toml"; }
    [[nodiscard]] fs::path marker(const std::string& name) const { return root_ / ("marker-" + name); }
    [[nodiscard]] fs::path task_dir(const std::string& task) const { return state() / "tasks" / task; }

    // Copies fixture plugin <name>.so into the plugins dir (as `as`, default the same name).
    void add_fixture(const std::string& name, const std::string& as = "");
    // Writes the manifest: a [settings] block pointing at this sandbox, then `tasks`.
    void write_manifest(const std::string& tasks, const std::string& extra_settings = "");

    // Runs the binary with --config <manifest> and `args`.
    ProcessResult run(const std::vector<std::string>& args = {}, const std::map<std::string, std::string>& env = {},
                      std::chrono::milliseconds timeout = std::chrono::seconds(120)) const;

private:
    fs::path root_;
};

// An ok_marker task writing marker(name).
std::string ok_task(const Sandbox& sb, const std::string& name);

fs::path fixture_dir();
fs::path host_binary();

// In a forked child: exec the binary with --config <sandbox manifest> and `args`.
[[noreturn]] void exec_host(const Sandbox& sb, const std::vector<std::string>& args);

}  // namespace hbtest
