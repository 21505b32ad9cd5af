// Calendar expressions, time spans and time stamps. The comparison with systemd itself over many
// expressions lives in tests/oracle; these tests pin the behaviour a reader can check by hand,
// the errors, and the deliberate spring-forward difference.
#include "schedule.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <optional>
#include <random>
#include <string>
#include <vector>

using hb::CalendarSpec;
using hb::Duration;
using hb::TimePoint;

namespace {

// Sets TZ for one test and restores it.
class LocalZone {
public:
    explicit LocalZone(const char* tz) {
        if (const char* old = std::getenv("TZ")) saved_ = old;
        ::setenv("TZ", tz, 1);
        ::tzset();
    }
    LocalZone(const LocalZone&) = delete;
    LocalZone& operator=(const LocalZone&) = delete;
    ~LocalZone() {
        if (saved_)
            ::setenv("TZ", saved_->c_str(), 1);
        else
            ::unsetenv("TZ");
        ::tzset();
    }

private:
    std::optional<std::string> saved_;
};

// "YYYY-MM-DD HH:MM:SS" read as UTC, independently of the code under test.
TimePoint utc(const char* text) {
    struct tm tm {};
    const char* end = ::strptime(text, "%Y-%m-%d %H:%M:%S", &tm);
    EXPECT_TRUE(end && *end == '\0') << text;
    return TimePoint(std::chrono::seconds(::timegm(&tm)));
}

CalendarSpec parse_ok(const std::string& expr) {
    auto spec = CalendarSpec::parse(expr);
    EXPECT_TRUE(spec.has_value()) << expr << ": " << (spec ? "" : spec.error().message);
    return spec ? *spec : CalendarSpec{};
}

std::string normalized(const std::string& expr) { return parse_ok(expr).normalized(); }

std::vector<std::string> elapses(const std::string& expr, const char* base, int n, bool in_utc = true) {
    const CalendarSpec spec = parse_ok(expr);
    std::vector<std::string> out;
    TimePoint t = utc(base);
    for (int i = 0; i < n; ++i) {
        const auto next = spec.next_after(t);
        if (!next) {
            out.emplace_back("never");
            break;
        }
        out.push_back(hb::format_timestamp(*next, in_utc));
        t = *next;
    }
    return out;
}

using Strings = std::vector<std::string>;

}  // namespace

TEST(CalendarParse, ShorthandsNormalizeAsInSystemd) {
    EXPECT_EQ(normalized("minutely"), "*-*-* *:*:00");
    EXPECT_EQ(normalized("hourly"), "*-*-* *:00:00");
    EXPECT_EQ(normalized("daily"), "*-*-* 00:00:00");
    EXPECT_EQ(normalized("weekly"), "Mon *-*-* 00:00:00");
    EXPECT_EQ(normalized("monthly"), "*-*-01 00:00:00");
    EXPECT_EQ(normalized("yearly"), "*-01-01 00:00:00");
    EXPECT_EQ(normalized("annually"), "*-01-01 00:00:00");
    EXPECT_EQ(normalized("quarterly"), "*-01,04,07,10-01 00:00:00");
    EXPECT_EQ(normalized("semiannually"), "*-01,07-01 00:00:00");
    EXPECT_EQ(normalized("DAILY"), "*-*-* 00:00:00");
}

TEST(CalendarParse, FieldsListsRangesAndRepetitions) {
    EXPECT_EQ(normalized("Mon..Fri 08..17/2:00"), "Mon..Fri *-*-* 08..16/2:00:00");
    EXPECT_EQ(normalized("Sat,Sun 10:00"), "Sat,Sun *-*-* 10:00:00");
    EXPECT_EQ(normalized("Mon,Tue,Wed,Fri"), "Mon..Wed,Fri *-*-* 00:00:00");
    EXPECT_EQ(normalized("Mon-Fri"), "Mon..Fri *-*-* 00:00:00");
    EXPECT_EQ(normalized("mon..sun"), "*-*-* 00:00:00");
    EXPECT_EQ(normalized("*:0/15"), "*-*-* *:00/15:00");
    EXPECT_EQ(normalized("*-*-1,15 4:0"), "*-*-01,15 04:00:00");
    EXPECT_EQ(normalized("26-03-29"), "2026-03-29 00:00:00");
    EXPECT_EQ(normalized("*:0..59/20"), "*-*-* *:00..40/20:00");
    EXPECT_EQ(normalized("*-*-5..5"), "*-*-05 00:00:00");
    EXPECT_EQ(normalized("*-*~01"), "*-*~01 00:00:00");
    EXPECT_EQ(normalized("*-*~1..7/2"), "*-*~01..07/2 00:00:00");
    EXPECT_EQ(normalized("*:*:*"), "*-*-* *:*:*");
    EXPECT_EQ(normalized("*:*:0/1"), "*-*-* *:*:*");
    EXPECT_EQ(normalized("*:*:1.25/0.5"), "*-*-* *:*:01.250000/0.500000");
    EXPECT_EQ(normalized("12:00:00.1234567"), "*-*-* 12:00:00.123457");
    EXPECT_EQ(normalized("@1780000000"), "2026-05-28 20:26:40 UTC");
    EXPECT_EQ(normalized("daily utc"), "*-*-* 00:00:00 UTC");
    EXPECT_EQ(normalized("Mon 02:30 Europe/Paris"), "Mon *-*-* 02:30:00 Europe/Paris");
    EXPECT_EQ(normalized("*-*-1..3,1..3,2"), "*-*-01..03,02 00:00:00");
}

TEST(CalendarParse, ErrorsNameTheExpressionAndTheReason) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"", "empty"},
        {"bogus", "expected a number"},
        {"Mond", "unknown weekday"},
        {"Sun..Mon", "goes backwards"},
        {"Mon..", "open weekday range"},
        {"*-*-32", "day 32 is out of range 1..31"},
        {"*-13-01", "month 13 is out of range 1..12"},
        {"24:00", "hour 24 is out of range 0..23"},
        {"*:60", "minute 60 is out of range 0..59"},
        {"*:*:60", "second 60 is out of range"},
        {"*:50/20", "never repeats"},
        {"*-*-3/0", "repetition /0"},
        {"2200-01-01", "year 2200 is out of range 1970..2199"},
        {"*-*~29", "day counted from the end of the month 29 is out of range 1..28"},
        {"*-*-* 12", "expected ':' after the hour"},
        {"daily ", "expected a number"},
        {" daily", "expected a number"},
        {"daily Foo/Bar", "expected a number"},
        {"*:*:00..00.5", "at least one second"},
        {"12:00:", "expected a number for the second"},
        {std::string("daily\0x", 7), "NUL"},
    };
    for (const auto& [expr, reason] : cases) {
        auto spec = CalendarSpec::parse(expr);
        ASSERT_FALSE(spec.has_value()) << expr;
        const std::string& msg = spec.error().message;
        EXPECT_NE(msg.find("invalid calendar expression"), std::string::npos) << msg;
        if (expr.find('\0') == std::string::npos) {
            EXPECT_NE(msg.find("'" + expr + "'"), std::string::npos) << msg;
        }
        EXPECT_NE(msg.find(reason), std::string::npos) << "for '" << expr << "': " << msg;
    }
}

TEST(CalendarParse, LocalZoneAbbreviationIsRefused) {
    LocalZone tz("Europe/Paris");
    auto spec = CalendarSpec::parse("daily CET");
    ASSERT_FALSE(spec.has_value());
    EXPECT_NE(spec.error().message.find("Europe/Paris"), std::string::npos) << spec.error().message;
    // Without a local CET, "CET" is a zone file name like any other, as in systemd.
    LocalZone utc_zone("UTC");
    EXPECT_EQ(normalized("daily CET"), "*-*-* 00:00:00 CET");
}

TEST(CalendarParse, TooManyListElementsIsAnError) {
    std::string expr = "*:";
    for (int i = 0; i < 300; ++i) expr += (i ? "," : "") + std::to_string(i % 60);
    auto spec = CalendarSpec::parse(expr);
    ASSERT_FALSE(spec.has_value());
    EXPECT_NE(spec.error().message.find("more than 241 list elements"), std::string::npos);
}

TEST(CalendarNext, UtcBasics) {
    LocalZone tz("UTC");
    EXPECT_EQ(elapses("*:0/15", "2026-05-28 20:26:40", 3),
              (Strings{"Thu 2026-05-28 20:30:00 UTC", "Thu 2026-05-28 20:45:00 UTC", "Thu 2026-05-28 21:00:00 UTC"}));
    EXPECT_EQ(elapses("Mon..Fri 09:00", "2026-05-29 10:00:00", 2),
              (Strings{"Mon 2026-06-01 09:00:00 UTC", "Tue 2026-06-02 09:00:00 UTC"}));
    EXPECT_EQ(elapses("*-02-29 12:00", "2026-01-01 00:00:00", 2),
              (Strings{"Tue 2028-02-29 12:00:00 UTC", "Sun 2032-02-29 12:00:00 UTC"}));
    EXPECT_EQ(elapses("*-*~01", "2026-02-01 00:00:00", 3),
              (Strings{"Sat 2026-02-28 00:00:00 UTC", "Tue 2026-03-31 00:00:00 UTC", "Thu 2026-04-30 00:00:00 UTC"}));
    EXPECT_EQ(elapses("*-*~1..3/2", "2028-02-01 00:00:00", 3),  // 3rd-last and last day
              (Strings{"Sun 2028-02-27 00:00:00 UTC", "Tue 2028-02-29 00:00:00 UTC", "Wed 2028-03-29 00:00:00 UTC"}));
    EXPECT_EQ(elapses("*-*-31", "2026-04-01 00:00:00", 1), (Strings{"Sun 2026-05-31 00:00:00 UTC"}));
    // Strictly after the base: an elapse at the base itself is not repeated.
    EXPECT_EQ(elapses("daily", "2026-05-28 00:00:00", 1), (Strings{"Fri 2026-05-29 00:00:00 UTC"}));
}

TEST(CalendarNext, FractionalSeconds) {
    const CalendarSpec spec = parse_ok("*:*:1.25/0.5 UTC");
    const auto next = spec.next_after(utc("2026-05-28 20:26:40"));
    ASSERT_TRUE(next);
    EXPECT_EQ((*next - utc("2026-05-28 20:26:40")).count(), 250'000);  // 01.25 + 0.5 k: 40.25 s
}

TEST(CalendarNext, GivesUpAfterTheLastYearSystemdAccepts) {
    LocalZone tz("UTC");
    EXPECT_EQ(elapses("2199-12-31", "2199-01-01 00:00:00", 2), (Strings{"Tue 2199-12-31 00:00:00 UTC", "never"}));
    EXPECT_EQ(elapses("*-02-30", "2026-01-01 00:00:00", 1), (Strings{"never"}));
    EXPECT_EQ(elapses("@1780000000", "2026-05-28 20:26:40", 1), (Strings{"never"}));
    EXPECT_FALSE(parse_ok("minutely").next_after(TimePoint::max()));
    EXPECT_TRUE(parse_ok("minutely").next_after(TimePoint::min()));
}

// The deliberate difference from systemd: 02:30 does not exist on 2026-03-29 in Europe/Paris
// (02:00 CET -> 03:00 CEST); it elapses once at 03:00 CEST = 01:00 UTC, where systemd skips the day.
TEST(CalendarDst, SpringForwardGapElapsesOnceAtTheEndOfTheGap) {
    LocalZone tz("Europe/Paris");
    EXPECT_EQ(elapses("02:30", "2026-03-27 12:00:00", 4),
              (Strings{"Sat 2026-03-28 01:30:00 UTC", "Sun 2026-03-29 01:00:00 UTC", "Mon 2026-03-30 00:30:00 UTC",
                       "Tue 2026-03-31 00:30:00 UTC"}));
    EXPECT_EQ(elapses("02:30", "2026-03-28 23:00:00", 1, false), (Strings{"Sun 2026-03-29 03:00:00 CEST"}));
    // Several times inside the gap still elapse once, at 03:00.
    EXPECT_EQ(elapses("*:20/30", "2026-03-29 00:40:00", 3, false),
              (Strings{"Sun 2026-03-29 01:50:00 CET", "Sun 2026-03-29 03:00:00 CEST", "Sun 2026-03-29 03:20:00 CEST"}));
    // When 03:00 matches anyway there is nothing extra: exactly one elapse at 03:00.
    EXPECT_EQ(elapses("*:0/30", "2026-03-29 00:20:00", 3, false),
              (Strings{"Sun 2026-03-29 01:30:00 CET", "Sun 2026-03-29 03:00:00 CEST", "Sun 2026-03-29 03:30:00 CEST"}));
    // The same with the zone in the expression while the local zone is UTC.
    LocalZone utc_zone("UTC");
    EXPECT_EQ(elapses("02:30 Europe/Paris", "2026-03-28 12:00:00", 2),
              (Strings{"Sun 2026-03-29 01:00:00 UTC", "Mon 2026-03-30 00:30:00 UTC"}));
}

// Falling back (03:00 CEST -> 02:00 CET on 2026-10-25), 02:30 happens twice; like systemd, it elapses
// once, at the earlier instant, when iterating from before.
TEST(CalendarDst, FallBackRunsOnceAtTheEarlierInstant) {
    LocalZone tz("Europe/Paris");
    EXPECT_EQ(elapses("02:30", "2026-10-24 12:00:00", 3),
              (Strings{"Sun 2026-10-25 00:30:00 UTC", "Mon 2026-10-26 01:30:00 UTC", "Tue 2026-10-27 01:30:00 UTC"}));
    EXPECT_EQ(elapses("*:0/30", "2026-10-24 23:40:00", 5, false),
              (Strings{"Sun 2026-10-25 02:00:00 CEST", "Sun 2026-10-25 02:30:00 CEST", "Sun 2026-10-25 03:00:00 CET",
                       "Sun 2026-10-25 03:30:00 CET", "Sun 2026-10-25 04:00:00 CET"}));
    // Asked from inside the second pass, the next elapse is in the second pass (systemd agrees).
    EXPECT_EQ(elapses("*:0/15", "2026-10-25 01:30:00", 2, false),
              (Strings{"Sun 2026-10-25 02:45:00 CET", "Sun 2026-10-25 03:00:00 CET"}));
}

TEST(CalendarDst, NamedZoneLeavesTzAsItWas) {
    LocalZone tz("America/New_York");
    const CalendarSpec spec = parse_ok("12:00 Asia/Tokyo");
    const auto next = spec.next_after(utc("2026-05-28 00:00:00"));
    ASSERT_TRUE(next);
    EXPECT_EQ(hb::format_timestamp(*next, true), "Thu 2026-05-28 03:00:00 UTC");
    ASSERT_NE(std::getenv("TZ"), nullptr);
    EXPECT_STREQ(std::getenv("TZ"), "America/New_York");
    EXPECT_EQ(hb::format_timestamp(*next), "Wed 2026-05-27 23:00:00 EDT");
}

TEST(CalendarReport, LooksLikeSystemdAnalyzeAndShowsTheGapNote) {
    LocalZone tz("Europe/Paris");
    auto report = hb::calendar_report("02:30", utc("2026-03-28 12:00:00"), 2);
    ASSERT_TRUE(report.has_value()) << report.error().message;
    const std::string& r = *report;
    EXPECT_NE(r.find("  Original form: 02:30\n"), std::string::npos) << r;
    EXPECT_NE(r.find("Normalized form: *-*-* 02:30:00\n"), std::string::npos) << r;
    EXPECT_NE(r.find("    Next elapse: Sun 2026-03-29 03:00:00 CEST\n"), std::string::npos) << r;
    EXPECT_NE(r.find("       (in UTC): Sun 2026-03-29 01:00:00 UTC\n"), std::string::npos) << r;
    EXPECT_NE(r.find("       From now: "), std::string::npos) << r;
    EXPECT_NE(r.find("           Note: Sun 2026-03-29 02:30:00 does not exist"), std::string::npos) << r;
    EXPECT_NE(r.find("       Iter. #2: Mon 2026-03-30 02:30:00 CEST\n"), std::string::npos) << r;
    EXPECT_EQ(r.find("Note", r.find("Iter. #2")), std::string::npos) << "only the gap elapse has a note\n" << r;

    auto never = hb::calendar_report("2026-01-01", utc("2026-03-28 12:00:00"), 3);
    ASSERT_TRUE(never.has_value());
    EXPECT_NE(never->find("    Next elapse: never\n"), std::string::npos) << *never;

    auto bad = hb::calendar_report("*:61", utc("2026-03-28 12:00:00"), 3);
    ASSERT_FALSE(bad.has_value());
    EXPECT_NE(bad.error().message.find("'*:61'"), std::string::npos);
    EXPECT_FALSE(hb::calendar_report("daily", utc("2026-03-28 12:00:00"), 0).has_value());
}

TEST(CalendarReport, NoUtcLineWhenLocalTimeIsUtc) {
    LocalZone tz("UTC");
    auto report = hb::calendar_report("hourly", utc("2026-03-28 12:00:00"), 1);
    ASSERT_TRUE(report.has_value());
    EXPECT_EQ(report->find("(in UTC)"), std::string::npos) << *report;
    EXPECT_NE(report->find("    Next elapse: Sat 2026-03-28 13:00:00 UTC\n"), std::string::npos) << *report;
}

TEST(Timespan, ParsesSystemdSyntax) {
    using namespace std::chrono;
    EXPECT_EQ(hb::parse_timespan("90").value(), seconds(90));
    EXPECT_EQ(hb::parse_timespan("90s").value(), seconds(90));
    EXPECT_EQ(hb::parse_timespan("15min").value(), minutes(15));
    EXPECT_EQ(hb::parse_timespan("1h 30min").value(), minutes(90));
    EXPECT_EQ(hb::parse_timespan("1h30m").value(), minutes(90));
    EXPECT_EQ(hb::parse_timespan("1.5h").value(), minutes(90));
    EXPECT_EQ(hb::parse_timespan(" 2 days ").value(), hours(48));
    EXPECT_EQ(hb::parse_timespan("1w").value(), hours(24 * 7));
    EXPECT_EQ(hb::parse_timespan("2weeks").value(), hours(24 * 14));
    EXPECT_EQ(hb::parse_timespan("1M").value(), seconds(2'629'800));
    EXPECT_EQ(hb::parse_timespan("1 month").value(), seconds(2'629'800));
    EXPECT_EQ(hb::parse_timespan("1y").value(), seconds(31'557'600));
    EXPECT_EQ(hb::parse_timespan("2 years").value(), seconds(2 * 31'557'600));
    EXPECT_EQ(hb::parse_timespan("1hr").value(), hours(1));
    EXPECT_EQ(hb::parse_timespan("250ms").value(), milliseconds(250));
    EXPECT_EQ(hb::parse_timespan("10us").value(), microseconds(10));
    EXPECT_EQ(hb::parse_timespan("1m").value(), minutes(1));
    EXPECT_EQ(hb::parse_timespan("1s 500ms").value(), milliseconds(1500));
}

TEST(Timespan, RejectsZeroNegativeInfiniteAndGarbage) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"", "empty"},       {"   ", "empty"},         {"0", "longer than zero"}, {"0s 0ms", "longer than zero"},
        {"-5s", "negative"}, {"infinity", "infinity"}, {"5 fortnights", "unknown unit 'fortnights'"},
        {"1.h", "digits after the decimal point"},     {"99999999999999999999s", "too large"},
        {"300000y", "too large"},                      {"12.34.56", "unknown unit"},
        {"292271.99999y", "too large"},
    };
    for (const auto& [text, reason] : cases) {
        auto d = hb::parse_timespan(text);
        ASSERT_FALSE(d.has_value()) << "'" << text << "' parsed as " << d->count();
        EXPECT_NE(d.error().message.find("'" + text + "'"), std::string::npos) << d.error().message;
        EXPECT_NE(d.error().message.find(reason), std::string::npos) << d.error().message;
    }
}

TEST(Timespan, FormatsLikeSystemd) {
    using namespace std::chrono;
    EXPECT_EQ(hb::format_timespan(minutes(90)), "1h 30min");
    EXPECT_EQ(hb::format_timespan(seconds(90)), "1min 30s");
    EXPECT_EQ(hb::format_timespan(hours(48)), "2d");
    EXPECT_EQ(hb::format_timespan(hours(24 * 9)), "1w 2d");
    EXPECT_EQ(hb::format_timespan(milliseconds(1500)), "1.500000s");
    EXPECT_EQ(hb::format_timespan(milliseconds(500)), "500ms");
    EXPECT_EQ(hb::format_timespan(seconds(31'557'600)), "1y");
    EXPECT_EQ(hb::format_timespan(seconds(5 * 2'629'800)), "5month");
    EXPECT_EQ(hb::format_timespan(Duration(0)), "0");
    EXPECT_EQ(hb::format_timespan(-minutes(5)), "-5min");
    for (const char* text : {"1h 30min", "1w 2d 3h", "1.500000s", "5month", "1y 2month 3w 4d 5h 6min 7s"})
        EXPECT_EQ(hb::format_timespan(hb::parse_timespan(text).value()), text);
}

TEST(Timestamp, ParsesAndFormats) {
    LocalZone tz("Europe/Paris");
    EXPECT_EQ(hb::parse_timestamp("@1774747800").value(), utc("2026-03-29 01:30:00"));
    EXPECT_EQ(hb::parse_timestamp("@1.5").value(), TimePoint(std::chrono::milliseconds(1500)));
    EXPECT_EQ(hb::parse_timestamp("2026-07-01 12:00").value(), utc("2026-07-01 10:00:00"));
    EXPECT_EQ(hb::parse_timestamp("2026-07-01 12:00:30 UTC").value(), utc("2026-07-01 12:00:30"));
    EXPECT_EQ(hb::parse_timestamp("2026-07-01T12:00:30").value(), utc("2026-07-01 10:00:30"));
    EXPECT_EQ(hb::parse_timestamp("2026-07-01").value(), utc("2026-06-30 22:00:00"));
    EXPECT_EQ(hb::parse_timestamp("2026-07-01 12:00 America/New_York").value(), utc("2026-07-01 16:00:00"));
    EXPECT_EQ(hb::parse_timestamp("2026-07-01 12:00:00.25 UTC").value(),
              utc("2026-07-01 12:00:00") + std::chrono::milliseconds(250));
    // In the spring gap the time moves forward by the gap, as systemd does; in the repeated hour
    // the earlier instant is taken unless the abbreviation says which.
    EXPECT_EQ(hb::parse_timestamp("2026-03-29 02:30").value(), utc("2026-03-29 01:30:00"));
    EXPECT_EQ(hb::parse_timestamp("2026-10-25 02:30").value(), utc("2026-10-25 00:30:00"));
    EXPECT_EQ(hb::parse_timestamp("2026-10-25 02:30 CEST").value(), utc("2026-10-25 00:30:00"));
    EXPECT_EQ(hb::parse_timestamp("2026-10-25 02:30 CET").value(), utc("2026-10-25 01:30:00"));
    EXPECT_EQ(hb::format_timestamp(utc("2026-03-29 01:00:00")), "Sun 2026-03-29 03:00:00 CEST");
    EXPECT_EQ(hb::format_timestamp(utc("2026-03-29 01:00:00"), true), "Sun 2026-03-29 01:00:00 UTC");
    // What format_timestamp prints parses back to the same second, even in the repeated hour.
    for (TimePoint t = utc("2026-10-24 23:00:00"); t < utc("2026-10-25 03:00:00"); t += std::chrono::minutes(7)) {
        EXPECT_EQ(hb::parse_timestamp(hb::format_timestamp(t)).value(), t) << hb::format_timestamp(t);
        EXPECT_EQ(hb::parse_timestamp(hb::format_timestamp(t, true)).value(), t);
    }
}

TEST(Timestamp, RejectsWhatItCannotRead) {
    LocalZone tz("Europe/Paris");
    const std::vector<std::pair<std::string, std::string>> cases{
        {"", "empty"},
        {"tomorrow", "expected a date"},
        {"2026-02-30 12:00", "no such date"},
        {"2026-07-01 25:00", "no such date"},
        {"2026-07-01 12:00 Mars/Olympus", "unexpected"},
        {"Mon 2026-07-01 12:00", "not a Mon"},
        {"2026-07-01 12:00 CET", "CET is not in effect"},
        {"@", "expected digits"},
        {"@12x", "unexpected"},
    };
    for (const auto& [text, reason] : cases) {
        auto t = hb::parse_timestamp(text);
        ASSERT_FALSE(t.has_value()) << text;
        EXPECT_NE(t.error().message.find("'" + text + "'"), std::string::npos) << t.error().message;
        EXPECT_NE(t.error().message.find(reason), std::string::npos) << t.error().message;
    }
}

// The parser and the search take any bytes: no crash, no hang, and every elapse is later than its
// base (the fuzzer runs the same property much longer).
TEST(CalendarRobustness, RandomExpressionsAreHandled) {
    LocalZone tz("Europe/Paris");
    std::mt19937 rng(12345);
    const std::vector<std::string> tokens{"*", "-", "~", ":", ".", "..", ",", "/", "0", "1", "2", "3", "7", "12", "29",
                                          "30", "59", "2026", " ", "Mon", "fri", "Sat..Sun", "@", "1e", " UTC",
                                          " Europe/Paris", "daily", "x"};
    int accepted = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string expr;
        const size_t len = rng() % 12;
        for (size_t k = 0; k < len; ++k) expr += tokens[rng() % tokens.size()];
        auto spec = CalendarSpec::parse(expr);
        if (!spec) {
            EXPECT_NE(spec.error().message.find("invalid calendar expression '" + expr + "': "), std::string::npos);
            continue;
        }
        ++accepted;
        EXPECT_EQ(CalendarSpec::parse(spec->normalized()).value().normalized(), spec->normalized()) << expr;
        const TimePoint base = utc("2026-03-29 00:30:00");
        const auto next = spec->next_after(base);
        if (next) {
            EXPECT_GT(*next, base) << expr;
        }
    }
    EXPECT_GT(accepted, 200);
}
