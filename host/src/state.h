// Persistent state of tasks in a SQLite database (the only module that includes sqlite3.h):
// per-task last run, outcome, streaks, quarantine, and a bounded history of runs.
//
// Durability: WAL mode, synchronous=NORMAL, one transaction per task result, so a kill at any moment
// leaves the old or the new state. A corrupt, zero-length, garbage or newer-version database is
// moved aside (renamed to `state.sqlite3.bad-<UTC YYYYmmddTHHMMSS>`, or `.newer-...` for a newer
// schema, together with its -wal/-shm files) with a warning, and a fresh one is started.
//
// One StateStore per process and per database (the run lock guarantees one host at a time). It is
// not thread-safe. A forked child must not use it; its destructor in a forked child does nothing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "error.h"

namespace hb {

// Times are microseconds since the Unix epoch (UTC).
struct TaskState {
    std::string task;
    std::optional<int64_t> last_start_us;    // start of the last finished run
    std::optional<int64_t> last_end_us;      // end of the last finished run
    std::optional<int64_t> last_success_us;  // end of the last run whose outcome was "ok"
    std::string last_outcome;                // outcome name ("ok", "failed", "crashed", ...), "" if never
    std::string last_message;
    int64_t last_duration_ms = 0;
    int64_t consecutive_failures = 0;  // runs in a row whose outcome was not ok
    int64_t crash_streak = 0;          // crashes or timeouts in a row (drives quarantine)
    int64_t retries_used = 0;          // retry_on_failure attempts since the last scheduled run
    std::optional<int64_t> quarantined_until_us;
    std::string plugin_identity;  // identity of the plugin file at the last run (dev:ino:size:mtime)
    // Totals, for metrics. Filled by load()/load_all(); ignored by save_*(): the store keeps the
    // totals itself (save_result() counts record.outcome).
    std::map<std::string, int64_t> runs_by_outcome;
};

struct RunRecord {
    std::string run_id;
    std::string task;
    int64_t start_us = 0;
    int64_t end_us = 0;
    std::string outcome;
    std::string message;
    int64_t duration_ms = 0;
};

class StateStore {
public:
    // Opens (creating if needed) `<dir>/state.sqlite3`. Problems with the file itself (corrupt,
    // zero-length, garbage, newer schema version) are handled by moving it aside; each such event
    // appends a human-readable line to `warnings`. Errors are only for a directory that cannot be
    // used (missing and not creatable, read-only, full): the message names the path and errno text.
    static Result<StateStore> open(const std::filesystem::path& dir, std::vector<std::string>& warnings);

    StateStore(StateStore&&) noexcept;
    StateStore& operator=(StateStore&&) noexcept;
    ~StateStore();

    [[nodiscard]] const std::filesystem::path& path() const;

    // All stored task states, by task name.
    Result<std::map<std::string, TaskState>> load_all();
    Result<std::optional<TaskState>> load(const std::string& task);

    // In one transaction: replace the task's state with `state`, append `record` to the history
    // (when record.run_id is non-empty), increment runs_by_outcome[record.outcome] (when the
    // outcome is non-empty), and trim the task's history to the newest `history_limit` rows
    // (by start_us; 0 or less keeps none). The task is state.task; record.task may be empty, and
    // otherwise must equal it. On error nothing is changed (the transaction is rolled back).
    Result<void> save_result(const TaskState& state, const RunRecord& record, int64_t history_limit);

    // Replace the task's state only (quarantine changes, retries), in one transaction. History and
    // totals are untouched.
    Result<void> save_state(const TaskState& state);

    // Newest first (by start_us); task empty means all tasks. At most `limit` rows.
    Result<std::vector<RunRecord>> history(const std::string& task, int64_t limit);

    // Forget streaks, retries and quarantine of a task (history and totals are kept). Returns false
    // when the task has no state.
    Result<bool> reset(const std::string& task);

    struct Impl;

private:
    explicit StateStore(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace hb
