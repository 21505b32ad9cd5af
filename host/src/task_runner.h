// Runs one task (or only loads its plugin, for --list/--check) in a supervised child process and
// turns what happened into an Outcome. Composes discovery (safe open), the supervisor (process),
// the loader (inside the child) and host services (inside the child).
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "manifest.h"
#include "outcome.h"
#include "protocol.h"
#include "schedule.h"

namespace hb {

struct TaskRequest {
    std::string task_name;
    std::filesystem::path plugins_dir;
    std::string plugin_file;
    const ConfigValue* config = nullptr;
    std::string run_id;
    std::filesystem::path task_dir;  // created by the caller
    std::optional<Duration> timeout;  // from the manifest
    Duration default_timeout = std::chrono::minutes(5);
    Duration kill_grace = std::chrono::seconds(5);
    uint64_t output_cap = 64 * 1024;
    std::vector<std::pair<std::string, std::string>> env;  // the task's whole environment
    TaskLimits limits;
    bool describe_only = false;  // load, report the descriptor, do not run
    // Asked once the plugin has loaded: run it now? (false: the outcome is `skipped`).
    std::function<bool(const protocol::Descriptor&)> proceed;
};

struct TaskLine {
    int32_t level = 1;     // HB_LOG_*; for output lines, the level of the task's outcome decides
    bool output = false;   // a line the task wrote to stdout/stderr
    std::string text;
};

struct TaskReport {
    Outcome outcome = Outcome::failed;
    std::string message;
    std::optional<protocol::Descriptor> descriptor;
    std::string identity;  // of the plugin file that was loaded
    TimePoint start{}, end{};
    int64_t duration_ms = 0;
    std::vector<TaskLine> lines;
    uint64_t output_dropped = 0;
    int64_t cpu_us = 0;
};

// The timeout that applies: the manifest's, else the plugin's suggestion, else the default.
Duration effective_timeout(const TaskRequest& request, const protocol::Descriptor* descriptor);

// The environment a task starts with: a short allowlist of the host's variables, the names in
// `pass_env`, then `extra` (later entries win).
std::vector<std::pair<std::string, std::string>> task_environment(
    const std::vector<std::string>& pass_env, const std::vector<std::pair<std::string, std::string>>& extra);

TaskReport run_task(const TaskRequest& request);

}  // namespace hb
