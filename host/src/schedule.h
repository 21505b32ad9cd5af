// Schedules: systemd calendar expressions (the syntax of OnCalendar=) and time spans (90s, 1h 30min),
// and the next elapse of a calendar expression after a given instant.
//
// One deliberate difference from systemd: a local time that does not exist because the clocks
// spring forward (02:30 on the last Sunday of March in Europe/Paris) elapses once at the first
// instant after the gap (03:00), as cronie does; systemd skips that day (systemd issue #5595). In
// the repeated hour when clocks fall back, the earlier instant elapses, as in systemd.
#pragma once

#include <chrono>
#include <memory>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "error.h"

namespace hb {

// Microseconds since the Unix epoch, UTC: the resolution systemd uses.
using TimePoint = std::chrono::sys_time<std::chrono::microseconds>;
using Duration = std::chrono::microseconds;

class CalendarSpec {
public:
    // Parses an expression; the error names the expression and the reason.
    static Result<CalendarSpec> parse(std::string_view expression);

    // The normalized form, as `systemd-analyze calendar` prints it after "Normalized form:".
    [[nodiscard]] std::string normalized() const;

    // The first elapse strictly after `after`, or nullopt when there is none.
    [[nodiscard]] std::optional<TimePoint> next_after(TimePoint after) const;

    struct Impl;  // defined in schedule.cpp
    std::shared_ptr<const Impl> impl;
};

// Parses a systemd time span ("90s", "15min", "1h 30min", "2 days"); rejects zero and negatives.
Result<Duration> parse_timespan(std::string_view text);
// Formats a span the way systemd does ("1h 30min").
std::string format_timespan(Duration d);

// Parses a time as `--base-time`/`--now` take it: "YYYY-MM-DD HH:MM[:SS] [UTC|Zone]" (local time
// when no zone), or "@<unix seconds>".
Result<TimePoint> parse_timestamp(std::string_view text);
// Formats like systemd: "Sun 2026-03-29 03:00:00 CEST" in local time (or in UTC when utc is true).
std::string format_timestamp(TimePoint t, bool utc = false);

// The text `--calendar` prints: like `systemd-analyze calendar`, the original form, the normalized
// form and N next elapses (local time and UTC) after `base`.
Result<std::string> calendar_report(std::string_view expression, TimePoint base, int iterations);

}  // namespace hb
