#include "due.h"

#include <algorithm>

namespace hb {

namespace {
TimePoint from_us(int64_t us) { return TimePoint(std::chrono::microseconds(us)); }
int64_t to_us(TimePoint t) { return t.time_since_epoch().count(); }
}  // namespace

std::string schedule_text(const TaskSpec& spec, const std::string& default_schedule) {
    if (spec.schedule) return *spec.schedule;
    if (spec.every) return "every " + format_timespan(*spec.every);
    if (!default_schedule.empty()) return default_schedule;
    return "every tick";
}

DueDecision decide_due(const DueInput& in) {
    DueDecision d;
    const TaskSpec& spec = *in.spec;
    const TaskState* st = in.state;
    if (!spec.enabled) {
        d.reason = "disabled in the manifest";
        return d;
    }
    if (st != nullptr && st->quarantined_until_us) {
        const bool replaced = !in.plugin_identity.empty() && !st->plugin_identity.empty() &&
                              in.plugin_identity != st->plugin_identity;
        if (replaced) {
            d.release_quarantine = true;
        } else if (from_us(*st->quarantined_until_us) > in.now) {
            d.quarantined = true;
            d.next_due = from_us(*st->quarantined_until_us);
            d.reason = "quarantined after " + std::to_string(st->crash_streak) + " crashes or timeouts in a row (last: " +
                       st->last_outcome + (st->last_message.empty() ? "" : ": " + st->last_message) + ") until " +
                       format_timestamp(*d.next_due) + "; replace the plugin or run --reset " + spec.name;
            return d;
        }
    }
    if (st == nullptr || !st->last_start_us) {
        d.due = true;
        d.reason = d.release_quarantine ? "plugin file replaced: quarantine lifted" : "never ran";
        return d;
    }
    if (spec.max_retries > 0 && !st->last_outcome.empty() && st->last_outcome != "ok" &&
        st->retries_used < spec.max_retries) {
        d.due = true;
        d.retry = true;
        d.reason = "retry " + std::to_string(st->retries_used + 1) + "/" + std::to_string(spec.max_retries) +
                   " after " + st->last_outcome;
        return d;
    }
    const TimePoint last = from_us(*st->last_start_us);
    std::optional<TimePoint> next;
    if (spec.every) {
        next = last + *spec.every;
    } else {
        const std::string expr = spec.schedule ? *spec.schedule : in.default_schedule;
        if (expr.empty()) {
            d.due = true;
            d.reason = d.release_quarantine ? "plugin file replaced: quarantine lifted" : "runs on every tick";
            return d;
        }
        auto cal = CalendarSpec::parse(expr);
        if (!cal) {
            d.reason = "invalid schedule from the plugin: " + cal.error().message;
            return d;
        }
        next = cal->next_after(last);
        if (!next) {
            d.reason = "schedule '" + expr + "' has no further elapse";
            return d;
        }
    }
    if (*next <= in.now) {
        d.due = true;
        d.reason = (d.release_quarantine ? "plugin file replaced: quarantine lifted; " : "") +
                   std::string("due since ") + format_timestamp(*next);
    } else {
        d.next_due = next;
        d.reason = "next due at " + format_timestamp(*next);
        if (last > in.now) d.reason += " (the last run started in the future: the clock went back)";
    }
    return d;
}

void apply_result(TaskState& s, const std::string& outcome, const std::string& message, TimePoint start, TimePoint end,
                  int64_t duration_ms, bool was_retry, const std::string& identity, const QuarantinePolicy& policy) {
    s.last_outcome = outcome;
    s.last_message = message;
    s.last_duration_ms = duration_ms;
    if (!identity.empty()) s.plugin_identity = identity;
    // An interrupted run is not a finished one: the task stays due.
    if (outcome == "interrupted") return;
    s.last_end_us = to_us(end);
    if (!was_retry || !s.last_start_us) s.last_start_us = to_us(start);
    s.retries_used = was_retry ? s.retries_used + 1 : 0;
    const bool crash = outcome == "crashed" || outcome == "timed-out" || outcome == "no-result" || outcome == "load-error";
    if (outcome == "ok") {
        s.last_success_us = to_us(end);
        s.consecutive_failures = 0;
        s.crash_streak = 0;
        s.retries_used = 0;
        s.quarantined_until_us.reset();
        return;
    }
    ++s.consecutive_failures;
    s.crash_streak = crash ? s.crash_streak + 1 : 0;
    if (crash && policy.after > 0 && s.crash_streak >= policy.after) {
        Duration backoff = policy.backoff;
        for (int64_t i = policy.after; i < s.crash_streak && backoff < policy.max_backoff; ++i) backoff *= 2;
        backoff = std::min(backoff, policy.max_backoff);
        s.quarantined_until_us = to_us(end + backoff);
    } else if (!crash) {
        s.quarantined_until_us.reset();
    }
}

}  // namespace hb
