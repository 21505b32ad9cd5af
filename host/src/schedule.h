// Schedules: systemd calendar expressions (the syntax of OnCalendar=) and time spans (90s, 1h 30min),
// and the next elapse of a calendar expression after a given instant.
//
// The elapses are those `systemd-analyze calendar EXPR --base-time=T --iterations=N` prints (systemd
// 252, checked by tests/oracle), with one deliberate difference: a local time that does not exist
// because the clocks spring forward (02:30 on the last Sunday of March in Europe/Paris) elapses once
// at the first instant after the gap (03:00:00 local), as cronie does; systemd skips that day
// (systemd issue #5595). In the repeated hour when clocks fall back, the earlier instant elapses, as
// in systemd: iterating from before the fold never runs twice. (Asked from a base time inside the
// second pass, the next elapse is in that second pass, again as in systemd.)
//
// Other differences, all refusals or limits rather than different elapses:
// - A suffix naming the local zone's abbreviation ("daily CET" while TZ is Europe/Paris) is refused:
//   systemd forces the DST flag then and computes odd results (even "never"). Write UTC or an IANA
//   name such as Europe/Paris.
// - systemd gives up after 1000 steps of its search ("Infinite loop in calendar calculation", e.g.
//   for "Sun *-3-25..31 02:30", which only ever falls into the spring gap); we search up to the last
//   year systemd accepts (2199) and return nullopt beyond it.
//
// Not thread-safe: an expression with a zone suffix is computed by pointing TZ at that zone for the
// duration of the call (the host is single-threaded; see schedule.cpp for why).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
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
    // Parses an expression; the error names the expression and the reason. Accepts what systemd
    // accepts: shorthands (minutely ... annually, quarterly, semiannually), weekday lists and ranges,
    // [year-]month-day with *, lists, a..b ranges and /repetitions, ~ for days counted from the end
    // of the month, hour:minute[:second[.fraction]], @unixseconds, and a final " UTC" or " Zone/Name"
    // (local time, from TZ, otherwise).
    static Result<CalendarSpec> parse(std::string_view expression);

    // The normalized form, as `systemd-analyze calendar` prints it after "Normalized form:".
    [[nodiscard]] std::string normalized() const;

    // The first elapse strictly after `after`, or nullopt when there is none before the year 2200.
    [[nodiscard]] std::optional<TimePoint> next_after(TimePoint after) const;

    struct Impl;  // defined in schedule.cpp
    std::shared_ptr<const Impl> impl;
};

// Parses a systemd time span ("90s", "15min", "1h 30min", "2 days", "1.5h"; a bare number is
// seconds; M/month = 30.44 days, y/year = 365.25 days); rejects zero, negatives and infinity.
Result<Duration> parse_timespan(std::string_view text);
// Formats a span the way systemd does ("1h 30min", "1.500000s").
std::string format_timespan(Duration d);

// Parses a time as `--base-time`/`--now` take it: "[Wkd ]YYYY-MM-DD[ HH:MM[:SS[.frac]]] [UTC|Zone]"
// (local time when no zone; a local zone abbreviation such as CET/CEST picks that side of a repeated
// hour), or "@<unix seconds>[.frac]". A local time in a spring-forward gap moves forward by the gap
// (02:30 -> 03:30), as systemd does; an ambiguous one takes the earlier instant.
Result<TimePoint> parse_timestamp(std::string_view text);
// Formats like systemd: "Sun 2026-03-29 03:00:00 CEST" in local time (or in UTC when utc is true).
std::string format_timestamp(TimePoint t, bool utc = false);

// The text `--calendar` prints: like `systemd-analyze calendar`, the original form, the normalized
// form and N next elapses (local time and UTC) after `base`, with a "Note:" line under an elapse that
// comes from a spring-forward gap (where systemd would skip it).
Result<std::string> calendar_report(std::string_view expression, TimePoint base, int iterations);

}  // namespace hb
