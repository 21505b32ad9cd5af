// Fuzz target: the calendar and time parsers of host/src/schedule.h. The input is tried as a
// calendar expression (parsed, normalized, re-parsed, and iterated from a fixed base), as a time
// span and as a time stamp. Local time is Europe/Paris, so daylight saving time is in play.
// Invariants: never crash or hang; the normalized form parses to the same normalized form; elapses
// are strictly increasing and each is found again from just before it; a time span formats to
// text that parses back to the same span; a time stamp formats to text that parses back to it.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "schedule.h"

namespace {

using namespace std::chrono;

std::string show(hb::TimePoint t) { return std::to_string(t.time_since_epoch().count()) + "us"; }

void calendar(std::string_view text) {
    auto spec = hb::CalendarSpec::parse(text);
    if (!spec) return;
    const std::string normalized = spec->normalized();
    auto again = hb::CalendarSpec::parse(normalized);
    HB_FUZZ_CHECK(again.has_value(), "'" + std::string(text) + "' normalizes to '" + normalized +
                                         "', which does not parse: " + (again ? "" : again.error().message));
    HB_FUZZ_CHECK(again->normalized() == normalized,
                  "'" + normalized + "' normalizes to '" + again->normalized() + "'");
    // Thu 2026-03-26 12:34:56.789 UTC: three days before the spring-forward in Europe/Paris.
    hb::TimePoint t = hb::TimePoint(microseconds(1774528496789000LL));
    for (int i = 0; i < 4; ++i) {
        const auto next = spec->next_after(t);
        if (!next) break;
        HB_FUZZ_CHECK(*next > t, normalized + ": next after " + show(t) + " is " + show(*next));
        const auto same = spec->next_after(*next - microseconds(1));
        HB_FUZZ_CHECK(same && *same == *next, normalized + ": elapse " + show(*next) +
                                                  " is not found again from 1us before it");
        t = *next;
    }
}

void timespan(std::string_view text) {
    auto d = hb::parse_timespan(text);
    if (!d) return;
    HB_FUZZ_CHECK(d->count() > 0, std::string(text));
    const std::string shown = hb::format_timespan(*d);
    auto back = hb::parse_timespan(shown);
    HB_FUZZ_CHECK(back && *back == *d, "'" + std::string(text) + "' = " + std::to_string(d->count()) +
                                           "us formats as '" + shown + "', which parses to " +
                                           (back ? std::to_string(back->count()) + "us" : back.error().message));
}

void timestamp(std::string_view text) {
    auto t = hb::parse_timestamp(text);
    if (!t) return;
    // Round trip where format_timestamp's four-digit years apply (and whole seconds).
    const auto secs = floor<seconds>(*t);
    if (secs.time_since_epoch().count() < 0 || secs.time_since_epoch().count() >= 7258118400LL) return;  // < 2200
    for (bool utc : {true, false}) {
        const std::string shown = hb::format_timestamp(*t, utc);
        auto back = hb::parse_timestamp(shown);
        HB_FUZZ_CHECK(back && *back == hb::TimePoint(secs), "'" + std::string(text) + "' = " + show(*t) +
                                                              " formats as '" + shown + "', which parses to " +
                                                              (back ? show(*back) : back.error().message));
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ::setenv("TZ", ":Europe/Paris", 1);
    ::tzset();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 4096) return 0;  // expressions are one line of a manifest
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    calendar(text);
    timespan(text);
    timestamp(text);
    return 0;
}
