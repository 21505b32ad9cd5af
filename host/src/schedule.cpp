// Calendar expressions, time spans and time stamps with systemd's syntax and semantics.
//
// The parser follows the grammar of systemd's calendarspec.c step by step (which suffix is a zone,
// what may follow a number, how lists are normalized and validated), because "accepted by systemd"
// is the contract: tests/oracle compares both the normalized form and the elapses with
// `systemd-analyze calendar`. The search does not copy systemd's mktime()-driven loop, though: it
// walks local (wall-clock) date-times in order, which gives the same answers without depending on
// glibc's mktime() guessing state, and makes the spring-forward rule explicit (see resolve_local).
#include "schedule.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <utility>

namespace hb {

struct CalendarSpec::Impl {
    // One element of a comma-separated list: start, start..stop, start/repeat or start..stop/repeat.
    // stop is -1 when open; repeat 0 means a single value. Seconds are stored in microseconds.
    struct Component {
        int start = 0;
        int stop = -1;
        int repeat = 0;
        auto operator<=>(const Component&) const = default;
    };
    using Chain = std::vector<Component>;  // empty: "*", any value
    enum class Zone { local, utc, named };

    std::string original;
    int weekdays = -1;          // bit 0 = Monday ... bit 6 = Sunday; -1: any day
    bool end_of_month = false;  // the day chain counts from the end of the month ("~")
    Chain year, month, day, hour, minute, usec;
    Zone zone = Zone::local;
    std::string zone_name;  // when zone == named
};

namespace {

using Spec = CalendarSpec::Impl;
using Component = Spec::Component;
using Chain = Spec::Chain;
using Zone = Spec::Zone;

constexpr int kMinYear = 1970;
constexpr int kMaxYear = 2199;  // systemd refuses later years, and so bounds every search
constexpr int64_t kUsecPerSec = 1'000'000;
constexpr int64_t kUsecPerMinute = 60 * kUsecPerSec;
constexpr int64_t kUsecPerHour = 60 * kUsecPerMinute;
constexpr int64_t kUsecPerDay = 24 * kUsecPerHour;
constexpr int kMaxListElements = 241;  // systemd's CALENDARSPEC_COMPONENTS_MAX + 1
constexpr int kAllWeekdays = 127;
constexpr const char* kZoneinfoDir = "/usr/share/zoneinfo/";

// ---------------------------------------------------------------------------------------------
// Civil (proleptic Gregorian) date arithmetic, after Howard Hinnant's algorithms.

constexpr int64_t floor_div(int64_t a, int64_t b) {
    const int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

constexpr int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2 ? 1 : 0;
    const int64_t era = floor_div(y, 400);
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

struct Ymd {
    int64_t y;
    int m;
    int d;
};

constexpr Ymd civil_from_days(int64_t z) {
    z += 719468;
    const int64_t era = floor_div(z, 146097);
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    const int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
    const int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
    return Ymd{yoe + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

constexpr bool is_leap(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

constexpr int days_in_month(int64_t y, int m) {
    constexpr std::array<int, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : kDays[static_cast<size_t>(m - 1)];
}

// 0 = Monday ... 6 = Sunday (1970-01-01 was a Thursday).
constexpr int weekday_from_days(int64_t days) { return static_cast<int>(((days % 7) + 7 + 3) % 7); }

constexpr std::array<const char*, 7> kWeekdayAbbrev{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};

// A local (wall-clock) date-time; `us` counts microseconds within the minute.
struct Civil {
    int64_t y;
    int mo, d, h, mi;
    int64_t us;
};

// Local date-times are handled as "microseconds since 1970-01-01 00:00 local", which orders them
// and makes "the next microsecond" trivial.
Civil civil_from_local(int64_t local_us) {
    const int64_t days = floor_div(local_us, kUsecPerDay);
    int64_t rem = local_us - days * kUsecPerDay;
    const Ymd ymd = civil_from_days(days);
    const int h = static_cast<int>(rem / kUsecPerHour);
    rem %= kUsecPerHour;
    const int mi = static_cast<int>(rem / kUsecPerMinute);
    return Civil{ymd.y, ymd.m, ymd.d, h, mi, rem % kUsecPerMinute};
}

std::string format_local(int64_t local_us) {
    const Civil c = civil_from_local(local_us);
    const int64_t days = floor_div(local_us, kUsecPerDay);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s %04lld-%02d-%02d %02d:%02d:%02d", kWeekdayAbbrev[weekday_from_days(days)],
                  static_cast<long long>(c.y), c.mo, c.d, c.h, c.mi, static_cast<int>(c.us / kUsecPerSec));
    return buf;
}

// ---------------------------------------------------------------------------------------------
// Time zones.
//
// libstdc++ 12 has no std::chrono tzdb, and glibc is the complete tz implementation at hand; glibc
// takes the zone from TZ. So for an expression with a zone suffix we point TZ at that zone for the
// duration of one computation and restore it afterwards; systemd does the same, in a forked child.
// This mutates the environment: fine in this single-threaded host, and the reason this module must
// not be called from several threads at once. Only localtime_r() is used to convert (never
// mktime(), whose answer for repeated or missing local times depends on hidden state); local ->
// UTC is solved by resolve_local() below.

class ZoneScope {
public:
    ZoneScope(Zone zone, const std::string& name) {
        if (zone == Zone::named) {
            if (const char* old = std::getenv("TZ")) saved_ = std::string(old);
            switched_ = true;
            ::setenv("TZ", (":" + name).c_str(), 1);
        }
        ::tzset();
    }
    ZoneScope(const ZoneScope&) = delete;
    ZoneScope& operator=(const ZoneScope&) = delete;
    ~ZoneScope() {
        if (!switched_) return;
        if (saved_)
            ::setenv("TZ", saved_->c_str(), 1);
        else
            ::unsetenv("TZ");
        ::tzset();
    }

private:
    bool switched_ = false;
    std::optional<std::string> saved_;
};

// UTC offset (seconds east) of the current TZ at instant t.
long offset_at(int64_t t) {
    const time_t tt = static_cast<time_t>(t);
    struct tm tm {};
    if (!::localtime_r(&tt, &tm)) return 0;
    return tm.tm_gmtoff;
}

// The instants at which the current TZ shows local time `local_sec` (seconds since 1970-01-01
// 00:00 local): one normally, two in a repeated hour (sorted), none in a spring-forward gap, where
// `gap_end` is the first instant after the gap (the transition) and `offset_before` the offset in
// force before it. Assumes at most one offset change within 30 hours of the time, true of every
// real zone.
struct Resolution {
    std::vector<int64_t> instants;
    int64_t gap_end = 0;
    long offset_before = 0;
};

Resolution resolve_local(int64_t local_sec) {
    constexpr int64_t kWindow = 30 * 3600;  // beyond any UTC offset
    Resolution r;
    const long before = offset_at(local_sec - kWindow);
    const long after = offset_at(local_sec + kWindow);
    const std::array<long, 4> offsets{before, after, offset_at(local_sec - before), offset_at(local_sec - after)};
    for (long off : offsets) {
        const int64_t t = local_sec - off;
        if (offset_at(t) == off && std::find(r.instants.begin(), r.instants.end(), t) == r.instants.end())
            r.instants.push_back(t);
    }
    std::sort(r.instants.begin(), r.instants.end());
    if (!r.instants.empty()) return r;
    // In a gap: local time jumps over local_sec; find the first instant that shows a later time.
    int64_t lo = local_sec - kWindow;  // shows a time <= local_sec
    int64_t hi = local_sec + kWindow;  // shows a time > local_sec
    while (hi - lo > 1) {
        const int64_t mid = lo + (hi - lo) / 2;
        (mid + offset_at(mid) > local_sec ? hi : lo) = mid;
    }
    r.gap_end = hi;
    r.offset_before = offset_at(hi - 1);
    return r;
}

// systemd's timezone_is_valid(): a plain relative name whose file under /usr/share/zoneinfo is a
// regular TZif file.
bool zone_name_valid(std::string_view name) {
    if (name.empty() || name.front() == '/' || name.size() >= PATH_MAX - std::strlen(kZoneinfoDir)) return false;
    bool slash = false;
    for (char ch : name) {
        const auto c = static_cast<unsigned char>(ch);
        if (!(std::isalnum(c) || ch == '-' || ch == '_' || ch == '+' || ch == '/')) return false;
        if (ch == '/' && slash) return false;
        slash = ch == '/';
    }
    if (slash) return false;
    const std::string path = kZoneinfoDir + std::string(name);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return false;
    struct stat st {};
    char magic[4] = {};
    const bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ::read(fd, magic, 4) == 4 &&
                    std::memcmp(magic, "TZif", 4) == 0;
    ::close(fd);
    return ok;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

bool istarts_with(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool iends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// ---------------------------------------------------------------------------------------------
// Calendar expression parser (systemd's grammar).

struct WeekdayName {
    const char* name;
    int nr;  // 0 = Monday
};
// Long names first, so that "Monday" is not read as "Mon" + "day".
constexpr std::array<WeekdayName, 14> kWeekdayNames{{{"Monday", 0},
                                                     {"Mon", 0},
                                                     {"Tuesday", 1},
                                                     {"Tue", 1},
                                                     {"Wednesday", 2},
                                                     {"Wed", 2},
                                                     {"Thursday", 3},
                                                     {"Thu", 3},
                                                     {"Friday", 4},
                                                     {"Fri", 4},
                                                     {"Saturday", 5},
                                                     {"Sat", 5},
                                                     {"Sunday", 6},
                                                     {"Sun", 6}}};

class CalendarParser {
public:
    CalendarParser(std::string_view text, Spec& spec) : text_(text), spec_(spec) {}

    // Parses weekdays, date and time; false with error() set on failure.
    bool parse() {
        if (!parse_weekdays()) return false;
        bool done = false;  // "@seconds" gives the time too
        if (!parse_date(done)) return false;
        if (!done && !parse_time()) return false;
        if (cur() != '\0') return fail("unexpected '" + rest() + "'");
        return true;
    }

    [[nodiscard]] const std::string& error() const { return error_; }

private:
    [[nodiscard]] char at(size_t i) const { return i < text_.size() ? text_[i] : '\0'; }
    [[nodiscard]] char cur() const { return at(pos_); }
    [[nodiscard]] std::string rest() const { return std::string(text_.substr(std::min(pos_, text_.size()))); }
    void skip_spaces() {
        while (cur() == ' ') ++pos_;
    }
    bool fail(std::string why) {
        if (error_.empty()) error_ = std::move(why);
        return false;
    }
    [[nodiscard]] std::string where() const {
        return cur() == '\0' ? std::string("at the end") : "at '" + rest() + "'";
    }

    bool parse_weekdays() {
        int range_from = -1;  // the first day of an open a..b range
        for (bool first = true;; first = false) {
            const WeekdayName* found = nullptr;
            for (const auto& w : kWeekdayNames) {
                if (!istarts_with(text_.substr(pos_), w.name)) continue;
                const char next = at(pos_ + std::strlen(w.name));
                if (next != '\0' && next != '-' && next != '.' && next != ',' && next != ' ')
                    return fail("unknown weekday " + where());
                found = &w;
                break;
            }
            if (!found) return first ? true : fail("expected a weekday " + where());
            spec_.weekdays = (spec_.weekdays < 0 ? 0 : spec_.weekdays) | (1 << found->nr);
            if (range_from >= 0) {
                if (range_from > found->nr)
                    return fail(std::string("weekday range ") + kWeekdayAbbrev[range_from] + ".." +
                                kWeekdayAbbrev[found->nr] + " goes backwards (weeks start on Monday)");
                for (int j = range_from + 1; j < found->nr; ++j) spec_.weekdays |= 1 << j;
            }
            pos_ += std::strlen(found->name);
            if (cur() == '\0') return true;
            if (cur() == ' ') {
                skip_spaces();
                return true;
            }
            if (cur() == '.') {
                if (range_from >= 0) return fail("weekday range with two '..' " + where());
                if (at(pos_ + 1) != '.') return fail("expected '..' " + where());
                range_from = found->nr;
                pos_ += 2;
            } else if (cur() == '-') {  // the old range syntax, still accepted by systemd
                if (range_from >= 0) return fail("weekday range with two '-' " + where());
                range_from = found->nr;
                pos_ += 1;
            } else if (cur() == ',') {
                range_from = -1;
                pos_ += 1;
            }
            if (cur() == '\0' || cur() == ' ') {  // a trailing comma is fine, an open range is not
                skip_spaces();
                return range_from < 0 ? true : fail("open weekday range");
            }
        }
    }

    // A decimal number; for seconds (usec) an optional fraction, stored in microseconds.
    bool parse_decimal(bool usec, int& out, const char* field) {
        if (!is_digit(cur())) return fail(std::string("expected a number for the ") + field + " " + where());
        uint64_t v = 0;
        while (is_digit(cur())) {
            const auto digit = static_cast<uint64_t>(cur() - '0');
            if (v > (std::numeric_limits<uint64_t>::max() - digit) / 10)
                return fail(std::string(field) + " number too large " + where());
            v = v * 10 + digit;
            ++pos_;
        }
        if (usec) {
            if (v > std::numeric_limits<uint64_t>::max() / kUsecPerSec)
                return fail(std::string(field) + " number too large");
            v *= kUsecPerSec;
            if (cur() == '.' && at(pos_ + 1) != '.') {  // one '.' is a decimal point, ".." a range
                ++pos_;
                if (!is_digit(cur())) return fail("expected digits after the decimal point " + where());
                // Six digits, rounded on the seventh, like systemd's parse_fractional_part_u().
                uint64_t frac = 0;
                int i = 0;
                for (; i < 6 && is_digit(cur()); ++i, ++pos_) frac = frac * 10 + static_cast<uint64_t>(cur() - '0');
                const bool all_six = i == 6;
                for (; i < 6; ++i) frac *= 10;
                if (all_six && cur() >= '5' && cur() <= '9') ++frac;
                while (is_digit(cur())) ++pos_;
                v += frac;
            }
        }
        if (v > static_cast<uint64_t>(INT_MAX)) return fail(std::string(field) + " number too large");
        out = static_cast<int>(v);
        return true;
    }

    // "*" or a comma-separated list of a, a..b, a/r, a..b/r.
    bool parse_chain(Chain& chain, bool usec, const char* field) {
        chain.clear();
        if (cur() == '*') {
            ++pos_;
            if (usec) chain.push_back(Component{0, -1, static_cast<int>(kUsecPerSec)});
            return true;
        }
        for (int count = 1;; ++count) {
            if (count > kMaxListElements)
                return fail("more than " + std::to_string(kMaxListElements) + " list elements in the " + field);
            Component c;
            if (!parse_decimal(usec, c.start, field)) return false;
            if (cur() == '.' && at(pos_ + 1) == '.') {
                pos_ += 2;
                if (!parse_decimal(usec, c.stop, field)) return false;
                c.repeat = usec ? static_cast<int>(kUsecPerSec) : 1;
            }
            if (cur() == '/') {
                ++pos_;
                if (!parse_decimal(usec, c.repeat, field)) return false;
                if (c.repeat == 0) return fail(std::string("repetition /0 in the ") + field);
            } else if (usec && c.stop >= 0 && int64_t{c.start} + c.repeat > c.stop) {
                return fail("a range of seconds without /repetition must span at least one second");
            }
            const char next = cur();
            if (next != '\0' && next != ' ' && next != ',' && next != '-' && next != '~' && next != ':')
                return fail("unexpected '" + rest() + "' after the " + field);
            chain.push_back(c);
            if (cur() != ',') return true;
            ++pos_;
        }
    }

    // "@seconds", [[year-]month-]day (with '~' before the day for "from the end of the month"), or
    // nothing (a time follows). done is set for "@seconds", which is a whole date and time.
    bool parse_date(bool& done) {
        if (cur() == '\0') return true;
        if (cur() == '@') return parse_epoch(done);
        const size_t start = pos_;
        Chain first, second, third;
        if (!parse_chain(first, false, "date")) return false;
        if (cur() == '\0' || cur() == ':') {  // it was an hour: no date
            pos_ = start;
            return true;
        }
        if (cur() == '~')
            spec_.end_of_month = true;
        else if (cur() != '-')
            return fail("expected '-' or '~' in the date " + where());
        ++pos_;
        if (!parse_chain(second, false, "date")) return false;
        if (cur() == '\0' || cur() == ' ') {
            skip_spaces();
            spec_.month = std::move(first);
            spec_.day = std::move(second);
            return true;
        }
        if (spec_.end_of_month) return fail("'~' must come right before the day " + where());
        if (cur() == '~')
            spec_.end_of_month = true;
        else if (cur() != '-')
            return fail("expected '-' or '~' in the date " + where());
        ++pos_;
        if (!parse_chain(third, false, "date")) return false;
        if (cur() != '\0' && cur() != ' ') return fail("unexpected '" + rest() + "' after the date");
        skip_spaces();
        spec_.year = std::move(first);
        spec_.month = std::move(second);
        spec_.day = std::move(third);
        return true;
    }

    // "@123": that second, in UTC. Digits as strtoul() reads them (leading blanks and a sign).
    bool parse_epoch(bool& done) {
        ++pos_;
        while (cur() != '\0' && std::isspace(static_cast<unsigned char>(cur()))) ++pos_;
        bool negative = false;
        if (cur() == '+' || cur() == '-') {
            negative = cur() == '-';
            ++pos_;
        }
        if (!is_digit(cur())) return fail("expected seconds after '@' " + where());
        uint64_t v = 0;
        while (is_digit(cur())) {
            const auto digit = static_cast<uint64_t>(cur() - '0');
            if (v > (std::numeric_limits<uint64_t>::max() - digit) / 10) return fail("'@' time out of range");
            v = v * 10 + digit;
            ++pos_;
        }
        if (negative && v != 0) return fail("'@' time before 1970");
        constexpr uint64_t kLimit = 1ULL << 40;  // far beyond the year 2199, still safe to convert
        if (v >= kLimit) return fail("'@' time after the year " + std::to_string(kMaxYear));
        const auto secs = static_cast<int64_t>(v);
        const int64_t days = floor_div(secs, 86400);
        const int64_t sod = secs - days * 86400;
        const Ymd ymd = civil_from_days(days);
        spec_.zone = Zone::utc;
        spec_.year = Chain{Component{static_cast<int>(ymd.y), -1, 0}};
        spec_.month = Chain{Component{ymd.m, -1, 0}};
        spec_.day = Chain{Component{ymd.d, -1, 0}};
        spec_.hour = Chain{Component{static_cast<int>(sod / 3600), -1, 0}};
        spec_.minute = Chain{Component{static_cast<int>(sod / 60 % 60), -1, 0}};
        spec_.usec = Chain{Component{static_cast<int>(sod % 60 * kUsecPerSec), -1, 0}};
        done = true;
        return true;
    }

    // hour:minute[:second]; nothing at all means 00:00:00.
    bool parse_time() {
        if (cur() == '\0') {
            spec_.hour = spec_.minute = spec_.usec = Chain{Component{}};
            return true;
        }
        if (!parse_chain(spec_.hour, false, "hour")) return false;
        if (cur() != ':') return fail("expected ':' after the hour " + where());
        ++pos_;
        if (!parse_chain(spec_.minute, false, "minute")) return false;
        if (cur() == '\0') {
            spec_.usec = Chain{Component{}};
            return true;
        }
        if (cur() != ':') return fail("expected ':' after the minute " + where());
        ++pos_;
        if (!parse_chain(spec_.usec, true, "second")) return false;
        if (cur() != '\0') return fail("unexpected '" + rest() + "' after the seconds");
        return true;
    }

    std::string_view text_;
    Spec& spec_;
    size_t pos_ = 0;
    std::string error_;
};

// ---------------------------------------------------------------------------------------------
// Normalization and validation (systemd's calendar_spec_normalize() and calendar_spec_valid()).

void normalize_chain(Chain& chain) {
    for (auto& c : chain) {
        // Make the length of a range a multiple of the repetition.
        if (c.stop > c.start && c.repeat > 0) c.stop -= (c.stop - c.start) % c.repeat;
        // A repetition that cannot fire twice, or a one-value range, is a single value.
        if ((c.stop > c.start && c.repeat > 0 && int64_t{c.start} + c.repeat > c.stop) || c.start == c.stop) {
            c.repeat = 0;
            c.stop = -1;
        }
    }
    std::sort(chain.begin(), chain.end());
    chain.erase(std::unique(chain.begin(), chain.end()), chain.end());
}

void fix_years(Chain& chain) {  // 12 -> 2012, 89 -> 1989
    for (auto& c : chain) {
        for (int* v : {&c.start, &c.stop}) {
            if (*v >= 0 && *v < 70)
                *v += 2000;
            else if (*v >= 70 && *v < 100)
                *v += 1900;
        }
    }
}

std::string show_value(int64_t v, bool usec) {
    if (!usec) return std::to_string(v);
    std::string s = std::to_string(v / kUsecPerSec);
    if (v % kUsecPerSec != 0) {
        char buf[16];
        std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(v % kUsecPerSec));
        s += buf;
    }
    return s;
}

// Empty string when valid, else the reason.
std::string check_chain(const Chain& chain, int from, int to, bool end_of_month, const char* field, bool usec) {
    if (end_of_month) to -= 3;  // no more than 28 days from the end of a month
    const std::string range = show_value(from, usec) + ".." + show_value(to, usec);
    const std::string name = end_of_month ? std::string("day counted from the end of the month") : field;
    for (const auto& c : chain) {
        const std::string start = show_value(c.start, usec);
        if (c.start < from || c.start > to) return name + " " + start + " is out of range " + range;
        if (c.repeat > to - from)
            return name + " repetition /" + show_value(c.repeat, usec) + " is longer than the range " + range;
        if (c.stop >= 0) {
            if (c.stop < from || c.stop > to)
                return name + " " + show_value(c.stop, usec) + " is out of range " + range;
            if (int64_t{c.start} + c.repeat > c.stop)
                return name + " range " + start + ".." + show_value(c.stop, usec) + " is empty or backwards";
        } else if (end_of_month && int64_t{c.start} - c.repeat < from) {
            return name + " ~" + start + "/" + show_value(c.repeat, usec) + " repeats past the start of the month";
        } else if (!end_of_month && int64_t{c.start} + c.repeat > to) {
            return name + " " + start + "/" + show_value(c.repeat, usec) + " never repeats within " + range;
        }
    }
    return {};
}

std::string normalize_and_check(Spec& s) {
    if (s.weekdays <= 0 || s.weekdays >= kAllWeekdays) s.weekdays = -1;
    if (s.end_of_month && s.day.empty()) s.end_of_month = false;
    fix_years(s.year);
    for (Chain* c : {&s.year, &s.month, &s.day, &s.hour, &s.minute, &s.usec}) normalize_chain(*c);
    std::string why;
    if (why = check_chain(s.year, kMinYear, kMaxYear, false, "year", false); !why.empty()) return why;
    if (why = check_chain(s.month, 1, 12, false, "month", false); !why.empty()) return why;
    if (why = check_chain(s.day, 1, 31, s.end_of_month, "day", false); !why.empty()) return why;
    if (why = check_chain(s.hour, 0, 23, false, "hour", false); !why.empty()) return why;
    if (why = check_chain(s.minute, 0, 59, false, "minute", false); !why.empty()) return why;
    return check_chain(s.usec, 0, static_cast<int>(kUsecPerMinute - 1), false, "second", true);
}

// ---------------------------------------------------------------------------------------------
// Normalized form (systemd's calendar_spec_to_string()).

bool chain_is_star(const Chain& chain, bool usec) {
    if (chain.empty()) return true;
    return usec && std::any_of(chain.begin(), chain.end(), [](const Component& c) {
               return c.start == 0 && c.stop < 0 && c.repeat == kUsecPerSec;
           });
}

void format_chain(std::string& out, int width, const Chain& chain, bool usec) {
    if (chain_is_star(chain, usec)) {
        out += '*';
        return;
    }
    const int d = usec ? static_cast<int>(kUsecPerSec) : 1;
    char buf[48];
    auto fraction = [&](int v) {
        if (v > 0 && v % d > 0) {
            std::snprintf(buf, sizeof buf, ".%06d", v % d);
            out += buf;
        }
    };
    bool first = true;
    for (const auto& c : chain) {
        if (!first) out += ',';
        first = false;
        std::snprintf(buf, sizeof buf, "%0*d", width, c.start / d);
        out += buf;
        fraction(c.start);
        if (c.stop > 0) {
            std::snprintf(buf, sizeof buf, "..%0*d", width, c.stop / d);
            out += buf;
        }
        fraction(c.stop);
        if (c.repeat > 0 && !(c.stop > 0 && c.repeat == d)) {
            std::snprintf(buf, sizeof buf, "/%d", c.repeat / d);
            out += buf;
        }
        fraction(c.repeat);
    }
}

void format_weekdays(std::string& out, int bits) {
    bool need_comma = false;
    int l = -1;
    int x = 0;
    for (; x < 7; ++x) {
        if (bits & (1 << x)) {
            if (l < 0) {
                if (need_comma) out += ',';
                need_comma = true;
                out += kWeekdayAbbrev[x];
                l = x;
            }
        } else if (l >= 0) {
            if (x > l + 1) {
                out += x > l + 2 ? ".." : ",";
                out += kWeekdayAbbrev[x - 1];
            }
            l = -1;
        }
    }
    if (l >= 0 && x > l + 1) {
        out += x > l + 2 ? ".." : ",";
        out += kWeekdayAbbrev[x - 1];
    }
}

// ---------------------------------------------------------------------------------------------
// The search.

std::optional<int64_t> next_value(const Component& c, int64_t lo) {
    if (c.start >= lo) return c.start;
    if (c.repeat <= 0) return std::nullopt;
    const int64_t k = c.start + c.repeat * ((lo - c.start + c.repeat - 1) / c.repeat);
    if (c.stop >= 0 && k > c.stop) return std::nullopt;
    return k;
}

// The smallest value >= lo and <= hi that the chain (or one component, mapped by f) matches.
template <class Map>
std::optional<int64_t> next_in(const Chain& chain, int64_t lo, int64_t hi, Map f) {
    if (lo > hi) return std::nullopt;
    if (chain.empty()) return lo;
    std::optional<int64_t> best;
    for (const auto& c : chain) {
        const auto v = next_value(f(c), lo);
        if (v && *v <= hi && (!best || *v < *best)) best = v;
    }
    return best;
}

std::optional<int64_t> next_in(const Chain& chain, int64_t lo, int64_t hi) {
    return next_in(chain, lo, hi, [](const Component& c) { return c; });
}

// Day matching: with '~', a component counts back from the last day (len) of the month: ~1 is the
// last day, ~3..1 the last three days, ~7/2 the 7th-last day and every second day after it.
std::optional<int64_t> next_day(const Spec& s, int64_t lo, int len) {
    if (!s.end_of_month) return next_in(s.day, lo, len);
    return next_in(s.day, lo, len, [len](const Component& c) {
        if (c.stop < 0) return Component{len - c.start + 1, -1, c.repeat};
        return Component{len - c.stop + 1, len - c.start + 1, c.repeat};
    });
}

// The first local date-time >= from_local (microseconds, see civil_from_local) that the
// expression matches, at most in the year 2199. The loops only ever continue past a level when it
// is still pinned to `from`; below that, the first match always fits, so this is at most a walk
// over the days of the remaining years.
std::optional<int64_t> first_match(const Spec& s, int64_t from_local) {
    Civil f = civil_from_local(from_local);
    if (f.y > kMaxYear) return std::nullopt;
    if (f.y < kMinYear) f = Civil{kMinYear, 1, 1, 0, 0, 0};
    for (auto y = next_in(s.year, f.y, kMaxYear); y; y = next_in(s.year, *y + 1, kMaxYear)) {
        const bool pin_y = *y == f.y;
        for (auto mo = next_in(s.month, pin_y ? f.mo : 1, 12); mo; mo = next_in(s.month, *mo + 1, 12)) {
            const bool pin_mo = pin_y && *mo == f.mo;
            const int len = days_in_month(*y, static_cast<int>(*mo));
            for (auto d = next_day(s, pin_mo ? f.d : 1, len); d; d = next_day(s, *d + 1, len)) {
                const int64_t days = days_from_civil(*y, static_cast<int>(*mo), static_cast<int>(*d));
                if (s.weekdays >= 0 && !(s.weekdays & (1 << weekday_from_days(days)))) continue;
                const bool pin_d = pin_mo && *d == f.d;
                for (auto h = next_in(s.hour, pin_d ? f.h : 0, 23); h; h = next_in(s.hour, *h + 1, 23)) {
                    const bool pin_h = pin_d && *h == f.h;
                    for (auto mi = next_in(s.minute, pin_h ? f.mi : 0, 59); mi; mi = next_in(s.minute, *mi + 1, 59)) {
                        const bool pin_mi = pin_h && *mi == f.mi;
                        if (auto us = next_in(s.usec, pin_mi ? f.us : 0, kUsecPerMinute - 1))
                            return days * kUsecPerDay + *h * kUsecPerHour + *mi * kUsecPerMinute + *us;
                    }
                }
            }
        }
    }
    return std::nullopt;
}

struct Elapse {
    int64_t at;        // microseconds since the epoch
    int64_t local;     // the matched local date-time (see civil_from_local)
    bool after_gap;    // the local time does not exist: elapses at the end of the gap
};

constexpr int64_t kSearchEnd = days_from_civil(kMaxYear + 1, 1, 2) * kUsecPerDay;

// systemd's rule, restated: take the local time of after + 1us, find the first matching local
// date-time from there, and turn it into an instant. A repeated local time takes its earlier
// instant, unless that is not after `after` (we are in the second pass of the repeated hour, where
// systemd, whose mktime() keeps the offset of its base time, takes the later one). Our own rule: a
// local time that does not exist elapses at the first instant after the gap.
std::optional<Elapse> next_elapse(const Spec& s, int64_t after) {
    if (after >= kSearchEnd) return std::nullopt;
    const ZoneScope zone(s.zone, s.zone_name);
    const bool utc = s.zone == Zone::utc;
    const int64_t b = after + 1;
    int64_t from_local = 0;  // 1970-01-01 00:00 local, for anything long before it
    if (b > -2 * kUsecPerDay) {
        const int64_t secs = floor_div(b, kUsecPerSec);
        long offset = utc ? 0 : offset_at(secs);
        // b exactly at the end of a spring-forward gap: the local times inside the gap elapse at b
        // too, so start from the gap's beginning (the offset before it), not from after the gap.
        if (!utc && b == secs * kUsecPerSec && offset_at(secs - 1) < offset) offset = offset_at(secs - 1);
        from_local = (secs + offset) * kUsecPerSec + (b - secs * kUsecPerSec);
    }
    // Normally the first candidate is the answer; the bound only guards against exotic zones.
    for (int attempt = 0; attempt < 16; ++attempt) {
        const auto local = first_match(s, from_local);
        if (!local) return std::nullopt;
        if (utc) return Elapse{*local, *local, false};
        const int64_t local_sec = floor_div(*local, kUsecPerSec);
        const int64_t frac = *local - local_sec * kUsecPerSec;
        const Resolution r = resolve_local(local_sec);
        if (r.instants.empty() && r.gap_end * kUsecPerSec > after) return Elapse{r.gap_end * kUsecPerSec, *local, true};
        for (int64_t t : r.instants)
            if (t * kUsecPerSec + frac > after) return Elapse{t * kUsecPerSec + frac, *local, false};
        from_local = *local + 1;
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Time spans (systemd's parse_time() with seconds as the default unit, and format_timespan()).

struct Unit {
    const char* suffix;
    int64_t usec;
};
// Order matters: the first prefix that matches wins ("ms" before "m", "min" before "m").
constexpr std::array<Unit, 30> kSpanUnits{{{"seconds", kUsecPerSec},
                                           {"second", kUsecPerSec},
                                           {"sec", kUsecPerSec},
                                           {"s", kUsecPerSec},
                                           {"minutes", kUsecPerMinute},
                                           {"minute", kUsecPerMinute},
                                           {"min", kUsecPerMinute},
                                           {"months", 2'629'800 * kUsecPerSec},
                                           {"month", 2'629'800 * kUsecPerSec},
                                           {"M", 2'629'800 * kUsecPerSec},
                                           {"msec", 1000},
                                           {"ms", 1000},
                                           {"m", kUsecPerMinute},
                                           {"hours", kUsecPerHour},
                                           {"hour", kUsecPerHour},
                                           {"hr", kUsecPerHour},
                                           {"h", kUsecPerHour},
                                           {"days", kUsecPerDay},
                                           {"day", kUsecPerDay},
                                           {"d", kUsecPerDay},
                                           {"weeks", 7 * kUsecPerDay},
                                           {"week", 7 * kUsecPerDay},
                                           {"w", 7 * kUsecPerDay},
                                           {"years", 31'557'600 * kUsecPerSec},
                                           {"year", 31'557'600 * kUsecPerSec},
                                           {"y", 31'557'600 * kUsecPerSec},
                                           {"usec", 1},
                                           {"us", 1},
                                           {"\xce\xbcs", 1},  // U+03BC GREEK SMALL LETTER MU
                                           {"\xc2\xb5s", 1}}};  // U+00B5 MICRO SIGN

bool is_span_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string relative_text(int64_t t, int64_t now) {
    const bool past = now > t;
    const uint64_t d = past ? static_cast<uint64_t>(now - t) : static_cast<uint64_t>(t - now);
    const char* suffix = past ? " ago" : " left";
    constexpr uint64_t kMin = kUsecPerMinute, kHour = kUsecPerHour, kDay = kUsecPerDay, kWeek = 7 * kDay;
    constexpr uint64_t kMonth = 2'629'800 * kUsecPerSec, kYear = 31'557'600 * kUsecPerSec;
    auto plural = [](uint64_t n, const char* one, const char* many) {
        return std::to_string(n) + " " + (n == 1 ? one : many);
    };
    if (d >= kYear)
        return plural(d / kYear, "year", "years") + " " + plural(d % kYear / kMonth, "month", "months") + suffix;
    if (d >= kMonth)
        return plural(d / kMonth, "month", "months") + " " + plural(d % kMonth / kDay, "day", "days") + suffix;
    if (d >= kWeek) return plural(d / kWeek, "week", "weeks") + " " + plural(d % kWeek / kDay, "day", "days") + suffix;
    if (d >= 2 * kDay) return std::to_string(d / kDay) + " days" + suffix;
    if (d >= 25 * kHour) return "1 day " + std::to_string((d - kDay) / kHour) + "h" + suffix;
    if (d >= 6 * kHour) return std::to_string(d / kHour) + "h" + suffix;
    if (d >= kHour) return std::to_string(d / kHour) + "h " + std::to_string(d % kHour / kMin) + "min" + suffix;
    if (d >= 5 * kMin) return std::to_string(d / kMin) + "min" + suffix;
    if (d >= kMin) return std::to_string(d / kMin) + "min " + std::to_string(d % kMin / kUsecPerSec) + "s" + suffix;
    if (d >= static_cast<uint64_t>(kUsecPerSec)) return std::to_string(d / kUsecPerSec) + "s" + suffix;
    if (d >= 1000) return std::to_string(d / 1000) + "ms" + suffix;
    if (d > 0) return std::to_string(d) + "us" + suffix;
    return "now";
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Result<CalendarSpec> CalendarSpec::parse(std::string_view expression) {
    auto bad = [&](const std::string& why) {
        std::string shown(expression);
        for (char& c : shown)
            if (c == '\0') c = '?';
        return fail("invalid calendar expression '" + shown + "': " + why);
    };
    if (expression.find('\0') != std::string_view::npos) return bad("contains a NUL byte");
    auto spec = std::make_shared<Impl>();
    spec->original = std::string(expression);

    std::string_view body = expression;
    if (iends_with(body, " UTC")) {
        spec->zone = Zone::utc;
        body.remove_suffix(4);
    } else {
        ::tzset();
        for (const char* abbrev : {tzname[0], tzname[1]}) {
            const std::string_view a = abbrev ? abbrev : "";
            if (!a.empty() && body.size() > a.size() && iends_with(body, a) && body[body.size() - a.size() - 1] == ' ')
                return bad("'" + std::string(body.substr(body.size() - a.size())) +
                           "' is the local time zone's abbreviation, which systemd treats as a fixed DST flag; "
                           "write UTC or a zone name such as Europe/Paris");
        }
        if (const size_t space = body.rfind(' '); space != std::string_view::npos) {
            const std::string_view zone = body.substr(space + 1);
            if (zone_name_valid(zone)) {
                spec->zone = Zone::named;
                spec->zone_name = std::string(zone);
                body = body.substr(0, space);
            }
        }
    }
    if (body.empty()) return bad("empty");

    struct Shorthand {
        const char* name;
        int weekdays;
        std::vector<int> months;  // empty: any
        int day;                  // 0: any
        bool hour, minute;        // pinned to 0
    };
    static const std::array<Shorthand, 13> kShorthands{{
        {"minutely", -1, {}, 0, false, false},
        {"hourly", -1, {}, 0, false, true},
        {"daily", -1, {}, 0, true, true},
        {"monthly", -1, {}, 1, true, true},
        {"annually", -1, {1}, 1, true, true},
        {"yearly", -1, {1}, 1, true, true},
        {"anually", -1, {1}, 1, true, true},  // sic, accepted by systemd for compatibility
        {"weekly", 1, {}, 0, true, true},
        {"quarterly", -1, {1, 4, 7, 10}, 1, true, true},
        {"biannually", -1, {1, 7}, 1, true, true},
        {"bi-annually", -1, {1, 7}, 1, true, true},
        {"semiannually", -1, {1, 7}, 1, true, true},
        {"semi-annually", -1, {1, 7}, 1, true, true},
    }};
    const auto shorthand = std::find_if(kShorthands.begin(), kShorthands.end(),
                                        [&](const Shorthand& s) { return iequals(body, s.name); });
    if (shorthand != kShorthands.end()) {
        spec->weekdays = shorthand->weekdays;
        for (int m : shorthand->months) spec->month.push_back(Component{m, -1, 0});
        if (shorthand->day) spec->day = Chain{Component{shorthand->day, -1, 0}};
        if (shorthand->hour) spec->hour = Chain{Component{}};
        if (shorthand->minute) spec->minute = Chain{Component{}};
        spec->usec = Chain{Component{}};
    } else {
        CalendarParser parser(body, *spec);
        if (!parser.parse()) return bad(parser.error());
    }
    if (const std::string why = normalize_and_check(*spec); !why.empty()) return bad(why);
    CalendarSpec result;
    result.impl = std::move(spec);
    return result;
}

std::string CalendarSpec::normalized() const {
    if (!impl) return {};
    const Impl& s = *impl;
    std::string out;
    if (s.weekdays > 0 && s.weekdays < kAllWeekdays) {
        format_weekdays(out, s.weekdays);
        out += ' ';
    }
    format_chain(out, 4, s.year, false);
    out += '-';
    format_chain(out, 2, s.month, false);
    out += s.end_of_month ? '~' : '-';
    format_chain(out, 2, s.day, false);
    out += ' ';
    format_chain(out, 2, s.hour, false);
    out += ':';
    format_chain(out, 2, s.minute, false);
    out += ':';
    format_chain(out, 2, s.usec, true);
    if (s.zone == Zone::utc)
        out += " UTC";
    else if (s.zone == Zone::named)
        out += " " + s.zone_name;
    return out;
}

std::optional<TimePoint> CalendarSpec::next_after(TimePoint after) const {
    if (!impl) return std::nullopt;
    const auto e = next_elapse(*impl, after.time_since_epoch().count());
    if (!e) return std::nullopt;
    return TimePoint(Duration(e->at));
}

Result<Duration> parse_timespan(std::string_view text) {
    auto bad = [&](const std::string& why) {
        std::string shown(text);
        for (char& c : shown)
            if (c == '\0') c = '?';
        return fail("invalid time span '" + shown + "': " + why);
    };
    if (text.find('\0') != std::string_view::npos) return bad("contains a NUL byte");
    auto at = [&](size_t i) { return i < text.size() ? text[i] : '\0'; };
    size_t p = 0;
    while (is_span_space(at(p))) ++p;
    if (text.substr(p).starts_with("infinity")) return bad("infinity is not allowed here");
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
    int64_t total = 0;
    for (bool something = false;;) {
        while (is_span_space(at(p))) ++p;
        if (at(p) == '\0') {
            if (!something) return bad("empty");
            break;
        }
        if (at(p) == '-') return bad("negative");
        // The integer part, read like strtoll() (blanks and a '+' allowed before the digits).
        size_t q = p;
        while (at(q) != '\0' && std::isspace(static_cast<unsigned char>(at(q)))) ++q;
        if (at(q) == '+') ++q;
        if (at(q) == '-') return bad("negative");
        int64_t whole = 0;
        size_t e = q;
        while (is_digit(at(e))) {
            const int digit = at(e) - '0';
            if (whole > (kMax - digit) / 10) return bad("too large");
            whole = whole * 10 + digit;
            ++e;
        }
        if (e == q) e = p;  // no digits: strtoll() consumes nothing
        if (at(e) == '.') {
            p = e + 1;
            while (is_digit(at(p))) ++p;
        } else if (e == p) {
            if (something) {  // "5 fortnights": a word after a number
                size_t end = p;
                while (at(end) != '\0' && !is_span_space(at(end)) && !is_digit(at(end))) ++end;
                return bad("unknown unit '" + std::string(text.substr(p, end - p)) + "'");
            }
            return bad("expected a number at '" + std::string(text.substr(p)) + "'");
        } else {
            p = e;
        }
        size_t unit_at = p;
        while (is_span_space(at(unit_at))) ++unit_at;
        int64_t multiplier = kUsecPerSec;
        size_t s = unit_at;
        for (const auto& u : kSpanUnits) {
            if (text.substr(unit_at).starts_with(u.suffix)) {
                multiplier = u.usec;
                s = unit_at + std::strlen(u.suffix);
                break;
            }
        }
        if (s == p && at(s) != '\0') {
            size_t end = s;
            while (at(end) != '\0' && !is_span_space(at(end)) && !is_digit(at(end))) ++end;
            return bad("unknown unit '" + std::string(text.substr(s, end - s)) + "'");
        }
        p = s;
        if (whole >= kMax / multiplier) return bad("too large");
        if (whole * multiplier >= kMax - total) return bad("too large");
        total += whole * multiplier;
        something = true;
        if (at(e) == '.') {
            int64_t m = multiplier / 10;
            size_t b = e + 1;
            for (; is_digit(at(b)); ++b, m /= 10) {
                const int64_t k = (at(b) - '0') * m;
                if (k >= kMax - total) return bad("too large");
                total += k;
            }
            if (b == e + 1) return bad("expected digits after the decimal point");
        }
    }
    if (total == 0) return bad("must be longer than zero");
    return Duration(total);
}

std::string format_timespan(Duration d) {
    int64_t v = d.count();
    if (v == 0) return "0";
    if (v < 0) return "-" + format_timespan(v == std::numeric_limits<int64_t>::min() ? Duration(-(v + 1)) : -d);
    static constexpr std::array<Unit, 9> kTable{{{"y", 31'557'600 * kUsecPerSec},
                                                  {"month", 2'629'800 * kUsecPerSec},
                                                  {"w", 7 * kUsecPerDay},
                                                  {"d", kUsecPerDay},
                                                  {"h", kUsecPerHour},
                                                  {"min", kUsecPerMinute},
                                                  {"s", kUsecPerSec},
                                                  {"ms", 1000},
                                                  {"us", 1}}};
    std::string out;
    for (const auto& u : kTable) {
        if (v <= 0) break;
        if (v < u.usec) continue;
        const int64_t a = v / u.usec;
        const int64_t b = v % u.usec;
        if (!out.empty()) out += ' ';
        // Under a minute, a remainder is shown as decimals of this unit ("1.500000s").
        if (v < kUsecPerMinute && b > 0) {
            int digits = 0;
            for (int64_t cc = u.usec; cc > 1; cc /= 10) ++digits;
            if (digits > 0) {
                std::string decimals = std::to_string(b);
                if (decimals.size() < static_cast<size_t>(digits))
                    decimals.insert(0, static_cast<size_t>(digits) - decimals.size(), '0');
                out += std::to_string(a) + "." + decimals + u.suffix;
                break;
            }
        }
        out += std::to_string(a) + u.suffix;
        v = b;
    }
    return out;
}

Result<TimePoint> parse_timestamp(std::string_view text) {
    auto bad = [&](const std::string& why) {
        std::string shown(text);
        for (char& c : shown)
            if (c == '\0') c = '?';
        return fail("invalid time stamp '" + shown +
                    "': " + why + " (expected YYYY-MM-DD HH:MM[:SS] [UTC|Zone/Name], or @unixseconds)");
    };
    if (text.find('\0') != std::string_view::npos) return bad("contains a NUL byte");
    if (text.empty()) return bad("empty");

    if (text.front() == '@') {
        size_t i = 1;
        int64_t secs = 0;
        while (i < text.size() && is_digit(text[i])) {
            if (secs > (int64_t{1} << 40)) return bad("out of range");
            secs = secs * 10 + (text[i++] - '0');
        }
        if (i == 1) return bad("expected digits after '@'");
        if (secs >= std::numeric_limits<int64_t>::max() / kUsecPerSec) return bad("out of range");
        int64_t frac = 0;
        if (i < text.size() && text[i] == '.') {
            ++i;
            const size_t first = i;
            for (int64_t m = kUsecPerSec / 10; i < text.size() && is_digit(text[i]); ++i, m /= 10)
                frac += (text[i] - '0') * m;
            if (i == first) return bad("expected digits after the decimal point");
        }
        if (i != text.size()) return bad("unexpected '" + std::string(text.substr(i)) + "'");
        return TimePoint(Duration(secs * kUsecPerSec + frac));
    }

    std::string_view body = text;
    Zone zone = Zone::local;
    std::string zone_name;
    int want_dst = -1;  // a local abbreviation (CET/CEST) names one side of a repeated hour
    if (body.ends_with(" UTC")) {
        zone = Zone::utc;
        body.remove_suffix(4);
    } else if (const size_t space = body.rfind(' '); space != std::string_view::npos) {
        const std::string_view word = body.substr(space + 1);
        ::tzset();
        for (int j = 0; j < 2 && want_dst < 0; ++j)
            if (tzname[j] && *tzname[j] && word == tzname[j]) want_dst = j;
        if (want_dst < 0 && zone_name_valid(word)) {
            zone = Zone::named;
            zone_name = std::string(word);
        }
        if (want_dst >= 0 || zone == Zone::named) body = body.substr(0, space);
    }

    int weekday = -1;
    for (const auto& w : kWeekdayNames) {
        const size_t n = std::strlen(w.name);
        if (istarts_with(body, w.name) && body.size() > n && body[n] == ' ') {
            weekday = w.nr;
            body.remove_prefix(n + 1);
            break;
        }
    }

    size_t i = 0;
    auto number = [&](size_t min_digits, size_t max_digits, int& out) {
        size_t n = 0;
        out = 0;
        while (n < max_digits && i < body.size() && is_digit(body[i])) out = out * 10 + (body[i++] - '0'), ++n;
        return n >= min_digits;
    };
    auto expect = [&](char c) { return i < body.size() && body[i++] == c; };
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    int64_t frac = 0;
    if (!number(4, 4, y) || !expect('-') || !number(1, 2, mo) || !expect('-') || !number(1, 2, d))
        return bad("expected a date YYYY-MM-DD");
    if (i < body.size()) {
        if (body[i] != ' ' && body[i] != 'T') return bad("unexpected '" + std::string(body.substr(i)) + "'");
        ++i;
        if (!number(1, 2, h) || !expect(':') || !number(1, 2, mi)) return bad("expected a time HH:MM");
        if (i < body.size() && body[i] == ':') {
            ++i;
            if (!number(1, 2, sec)) return bad("expected seconds after the minutes");
            if (i < body.size() && body[i] == '.') {
                ++i;
                const size_t first = i;
                for (int64_t m = kUsecPerSec / 10; i < body.size() && is_digit(body[i]); ++i, m /= 10)
                    frac += (body[i] - '0') * m;
                if (i == first) return bad("expected digits after the decimal point");
            }
        }
        if (i != body.size()) return bad("unexpected '" + std::string(body.substr(i)) + "'");
    }
    if (y < kMinYear || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return bad("no such date or time");
    const int64_t days = days_from_civil(y, mo, d);
    if (weekday >= 0 && weekday != weekday_from_days(days))
        return bad(std::string("that day is a ") + kWeekdayAbbrev[weekday_from_days(days)] + ", not a " +
                   kWeekdayAbbrev[weekday]);
    const int64_t local_sec = days * 86400 + h * 3600 + mi * 60 + sec;
    int64_t t = local_sec;
    if (zone != Zone::utc) {
        const ZoneScope scope(zone, zone_name);
        const Resolution r = resolve_local(local_sec);
        if (r.instants.empty()) {
            t = local_sec - r.offset_before;  // moved forward by the gap, as mktime() does
        } else if (want_dst >= 0) {
            const auto it = std::find_if(r.instants.begin(), r.instants.end(), [&](int64_t c) {
                const time_t tt = static_cast<time_t>(c);
                struct tm tm {};
                return ::localtime_r(&tt, &tm) && (tm.tm_isdst > 0 ? 1 : 0) == want_dst;
            });
            if (it == r.instants.end()) return bad(std::string(tzname[want_dst]) + " is not in effect at that time");
            t = *it;
        } else {
            t = r.instants.front();
        }
    }
    return TimePoint(Duration(t * kUsecPerSec + frac));
}

std::string format_timestamp(TimePoint t, bool utc) {
    const int64_t secs = floor_div(t.time_since_epoch().count(), kUsecPerSec);
    constexpr int64_t kMaxFormattable = 253'402'300'799;  // 9999-12-31 23:59:59 UTC, as systemd
    const std::string unknown = std::string("--- XXXX-XX-XX XX:XX:XX") + (utc ? " UTC" : "");
    if (secs > kMaxFormattable || secs < -kMaxFormattable) return unknown;
    const time_t tt = static_cast<time_t>(secs);
    struct tm tm {};
    if (utc) {
        if (!::gmtime_r(&tt, &tm)) return unknown;
    } else {
        ::tzset();
        if (!::localtime_r(&tt, &tm)) return unknown;
    }
    constexpr std::array<const char*, 7> kSundayFirst{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s %04d-%02d-%02d %02d:%02d:%02d",
                  kSundayFirst[static_cast<size_t>(tm.tm_wday % 7)], tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    std::string out = buf;
    if (utc)
        out += " UTC";
    else if (tm.tm_zone && *tm.tm_zone)
        out += std::string(" ") + tm.tm_zone;
    return out;
}

Result<std::string> calendar_report(std::string_view expression, TimePoint base, int iterations) {
    if (iterations < 1) return fail("the number of iterations must be at least 1, not " + std::to_string(iterations));
    auto spec = CalendarSpec::parse(expression);
    if (!spec) return std::unexpected(spec.error());
    ::tzset();
    const bool local_is_utc = ::timezone == 0 && ::daylight == 0;
    const int64_t now =
        std::chrono::duration_cast<Duration>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::string out;
    auto line = [&](const std::string& label, const std::string& text) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%15s: ", label.c_str());
        out += buf + text + "\n";
    };
    line("Original form", std::string(expression));
    line("Normalized form", spec->normalized());
    const CalendarSpec::Impl& s = *spec->impl;
    int64_t t = base.time_since_epoch().count();
    for (int i = 1; i <= iterations; ++i) {
        const auto e = next_elapse(s, t);
        if (!e) {
            if (i == 1) line("Next elapse", "never");
            break;
        }
        const TimePoint at{Duration(e->at)};
        line(i == 1 ? std::string("Next elapse") : "Iter. #" + std::to_string(i), format_timestamp(at));
        if (!local_is_utc) line("(in UTC)", format_timestamp(at, true));
        line("From now", relative_text(e->at, now));
        if (e->after_gap)
            line("Note", format_local(e->local) + (s.zone == Zone::named ? " " + s.zone_name : std::string()) +
                             " does not exist (clocks spring forward): elapses at the end of the gap; "
                             "systemd skips it");
        t = e->at;
    }
    return out;
}

}  // namespace hb
