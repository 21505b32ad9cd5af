// Is a task due now, and why (or why not)? Pure functions over the manifest entry, the stored
// state and the clock; the same logic serves the run, --list and --dry-run.
//
// - disabled: never due (a manual --run-task still runs it);
// - quarantined (after `quarantine_after` crashes or timeouts in a row): not due until the backoff
//   ends, or at once when the plugin file changed since the last run;
// - a failed run with retry_on_failure: due again on the next tick, up to max_retries times;
// - never ran: due;
// - `every`: due when `every` has passed since the last run's start;
// - a calendar schedule: due when an elapse lies after the last run's start and at or before now
//   (so after downtime a missed schedule runs once, and a clock that goes back runs nothing twice);
// - neither: due on every tick.
#pragma once

#include <optional>
#include <string>

#include "manifest.h"
#include "schedule.h"
#include "state.h"

namespace hb {

struct DueDecision {
    bool due = false;
    bool retry = false;        // due because of retry_on_failure
    bool quarantined = false;  // skipped because of quarantine
    bool release_quarantine = false;  // quarantine ends now (plugin file replaced)
    std::string reason;        // "due since ...", "next due at ...", "disabled", ...
    std::optional<TimePoint> next_due;
};

struct DueInput {
    const TaskSpec* spec = nullptr;
    const TaskState* state = nullptr;   // nullptr: never ran
    std::string default_schedule;       // the plugin's suggestion, "" if none or unknown
    std::string plugin_identity;        // current identity of the plugin file
    TimePoint now{};
};

DueDecision decide_due(const DueInput& in);

// Applies a finished run to a task's state: times (only for runs that count as done), streaks,
// retries and quarantine with capped exponential backoff.
struct QuarantinePolicy {
    int64_t after = 3;
    Duration backoff = std::chrono::minutes(5);
    Duration max_backoff = std::chrono::hours(24);
};
void apply_result(TaskState& state, const std::string& outcome, const std::string& message, TimePoint start,
                  TimePoint end, int64_t duration_ms, bool was_retry, const std::string& identity,
                  const QuarantinePolicy& policy);

// The schedule that applies to a task: the manifest's, else the plugin's suggestion.
std::string schedule_text(const TaskSpec& spec, const std::string& default_schedule);

}  // namespace hb
