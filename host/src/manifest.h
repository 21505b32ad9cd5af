// The TOML manifest: global settings and the tasks in run order (the only module that includes
// toml++). Loading is all or nothing: any error yields an Error naming file:line:col and the reason,
// and no partial Manifest exists.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config_value.h"
#include "error.h"
#include "schedule.h"

namespace hb {

struct SourcePos {
    uint32_t line = 0, column = 0;
};

// Optional per-task resource limits (setrlimit in the task's process); unset means inherited.
struct TaskLimits {
    std::optional<uint64_t> address_space_bytes;  // RLIMIT_AS
    std::optional<uint64_t> data_bytes;           // RLIMIT_DATA
    std::optional<uint64_t> open_files;           // RLIMIT_NOFILE
    std::optional<uint64_t> cpu_seconds;          // RLIMIT_CPU
    std::optional<uint64_t> processes;            // RLIMIT_NPROC
    std::optional<uint64_t> core_bytes;           // RLIMIT_CORE (default 0: no core dumps)
};

struct TaskSpec {
    std::string name;
    std::string plugin;  // file name inside the plugins dir, always ending in ".so"
    bool enabled = true;
    std::optional<Duration> timeout;
    std::optional<std::string> schedule;  // calendar expression (validated)
    std::optional<Duration> every;
    int64_t max_retries = 0;  // retry_on_failure: due again on the next tick, this many times
    ConfigValue config = ConfigValue::make_table();
    std::vector<std::pair<std::string, std::string>> env;  // added to the task's environment
    TaskLimits limits;
    SourcePos pos;
    bool drop_in = false;  // registered from the plugins dir, not named by the manifest
};

struct Settings {
    std::filesystem::path plugins_dir;           // absolute
    std::optional<std::filesystem::path> state_dir;  // absolute; unset: $STATE_DIRECTORY or default
    std::string log_level = "info";
    Duration default_timeout = std::chrono::minutes(5);
    Duration kill_grace = std::chrono::seconds(5);
    int64_t history_limit = 100;
    int64_t quarantine_after = 3;                       // crashes/timeouts in a row
    Duration quarantine_backoff = std::chrono::minutes(5);  // doubled per further failure...
    Duration quarantine_max_backoff = std::chrono::hours(24);  // ...up to this cap
    uint64_t output_cap_bytes = 64 * 1024;  // per task: captured output beyond this is counted, not kept
    std::optional<std::filesystem::path> metrics_file;
    std::vector<std::string> pass_env;  // host environment variables passed to tasks beyond the allowlist
};

struct Manifest {
    std::filesystem::path file;  // absolute path it was read from
    Settings settings;
    std::vector<TaskSpec> tasks;  // manifest order

    [[nodiscard]] const TaskSpec* find(std::string_view name) const;
};

inline constexpr size_t kMaxManifestBytes = 1024 * 1024;

// Reads and validates a manifest file. `fallback_plugins_dir` is used when the manifest sets none.
Result<Manifest> load_manifest(const std::filesystem::path& file, const std::filesystem::path& fallback_plugins_dir);

// Same, from text; `source` names it in errors and its directory anchors relative paths.
Result<Manifest> parse_manifest(std::string_view text, const std::filesystem::path& source,
                                const std::filesystem::path& fallback_plugins_dir);

}  // namespace hb
