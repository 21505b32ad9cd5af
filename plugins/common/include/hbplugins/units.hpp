// hbplugins/units.hpp: the quantities the shipped plugins read from their config, parsed the way
// systemd spells them, so a manifest reads the same as a unit file.
//
//   time span   "30d", "1h 30min", "2weeks", "90" (seconds), or a TOML integer of seconds
//   byte size   "500M", "2G", "1.5GiB", "4096", or a TOML integer of bytes (K/M/G/T/P = 1024^n)
//   percentage  "10%", "2.5%"
//
// Parsers return the value or an error text; the config_* wrappers turn the error into a
// housebrain::ConfigError naming the key, which fails the task.
#ifndef HBPLUGINS_UNITS_HPP
#define HBPLUGINS_UNITS_HPP

#include <housebrain/plugin.hpp>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <expected>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>

namespace hbplugins {

namespace detail {

inline bool is_space(char c) { return c == ' ' || c == '\t'; }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Reads "123" or "1.5" off the front of `s` (no sign, no exponent).
inline std::expected<double, std::string> take_number(std::string_view& s) {
    size_t i = 0, digits = 0;
    while (i < s.size() && is_digit(s[i])) ++i, ++digits;
    if (i < s.size() && s[i] == '.') {
        ++i;
        const size_t before = digits;
        while (i < s.size() && is_digit(s[i])) ++i, ++digits;
        if (digits == before) return std::unexpected(std::string("expected digits after '.'"));
    }
    double v = 0;
    if (digits == 0 || std::from_chars(s.data(), s.data() + i, v).ec != std::errc{})
        return std::unexpected(std::string("expected a number"));
    s.remove_prefix(i);
    return v;
}

inline std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

}  // namespace detail

// A systemd-style time span in whole seconds (fractions are rounded down). A bare number is seconds.
// Units: s sec second(s), m min minute(s), h hr hour(s), d day(s), w week(s), M month(s) (30.44 d),
// y year(s) (365.25 d). Several terms add up: "1h 30min", "1d12h".
inline std::expected<int64_t, std::string> parse_timespan(std::string_view text) {
    struct Unit {
        std::string_view name;
        double seconds;
    };
    static constexpr Unit units[] = {
        {"s", 1},          {"sec", 1},         {"second", 1},      {"seconds", 1},
        {"m", 60},         {"min", 60},        {"minute", 60},     {"minutes", 60},
        {"h", 3600},       {"hr", 3600},       {"hour", 3600},     {"hours", 3600},
        {"d", 86400},      {"day", 86400},     {"days", 86400},    {"w", 604800},
        {"week", 604800},  {"weeks", 604800},  {"M", 2629800},     {"month", 2629800},
        {"months", 2629800}, {"y", 31557600},  {"year", 31557600}, {"years", 31557600},
    };
    std::string_view s = detail::trim(text);
    if (s.empty()) return std::unexpected(std::string("empty time span"));
    double total = 0;
    while (!s.empty()) {
        auto number = detail::take_number(s);
        if (!number) return std::unexpected("invalid time span '" + std::string(text) + "': " + number.error());
        const size_t before_space = s.size();
        while (!s.empty() && detail::is_space(s.front())) s.remove_prefix(1);
        const bool spaced = s.size() != before_space;
        size_t n = 0;
        while (n < s.size() && detail::is_alpha(s[n])) ++n;
        const std::string_view unit = s.substr(0, n);
        s.remove_prefix(n);
        double factor = 0;
        if (unit.empty()) {
            // A bare number is seconds and must stand alone: "1h 2" is 1h 2s, "1.2.3" is an error.
            if (!s.empty() && !spaced) return std::unexpected("invalid time span '" + std::string(text) + "'");
            factor = 1;
        } else {
            for (const auto& u : units)
                if (u.name == unit) factor = u.seconds;
            if (factor == 0)
                return std::unexpected("invalid time span '" + std::string(text) + "': unknown unit '" +
                                       std::string(unit) + "' (use s, min, h, d, w, M or y)");
        }
        total += *number * factor;
        while (!s.empty() && detail::is_space(s.front())) s.remove_prefix(1);
    }
    if (total >= 9.0e18) return std::unexpected("time span '" + std::string(text) + "' is too large");
    return static_cast<int64_t>(total);
}

// A byte size. Suffixes K, M, G, T, P (optionally followed by "iB") are powers of 1024, as in
// systemd and `df -h`; "B" or no suffix means bytes. "MB" and friends are refused rather than
// guessed at.
inline std::expected<uint64_t, std::string> parse_size(std::string_view text) {
    std::string_view s = detail::trim(text);
    auto number = detail::take_number(s);
    if (!number) return std::unexpected("invalid size '" + std::string(text) + "': " + number.error());
    while (!s.empty() && detail::is_space(s.front())) s.remove_prefix(1);
    static constexpr std::string_view prefixes = "KMGTP";
    double factor = 1;
    if (!s.empty() && s != "B") {
        const auto p = prefixes.find(s.front() == 'k' ? 'K' : s.front());
        const std::string_view rest = s.substr(1);
        if (p == std::string_view::npos || !(rest.empty() || rest == "iB")) {
            if (p != std::string_view::npos && rest == "B")
                return std::unexpected("invalid size '" + std::string(text) + "': write " +
                                       std::string(1, prefixes[p]) + " or " + std::string(1, prefixes[p]) +
                                       "iB (sizes are powers of 1024)");
            return std::unexpected("invalid size '" + std::string(text) + "': unknown unit '" + std::string(s) +
                                   "' (use B, K, M, G, T or P)");
        }
        for (size_t i = 0; i <= p; ++i) factor *= 1024;
    }
    const double bytes = *number * factor;
    if (bytes >= 1.8e19) return std::unexpected("size '" + std::string(text) + "' is too large");
    return static_cast<uint64_t>(bytes);
}

// "10%" -> 10.0. Between 0 and 100.
inline std::expected<double, std::string> parse_percent(std::string_view text) {
    std::string_view s = detail::trim(text);
    if (s.empty() || s.back() != '%') return std::unexpected("invalid percentage '" + std::string(text) + "'");
    s.remove_suffix(1);
    s = detail::trim(s);
    auto number = detail::take_number(s);
    if (!number || !s.empty()) return std::unexpected("invalid percentage '" + std::string(text) + "'");
    if (*number > 100) return std::unexpected("percentage '" + std::string(text) + "' is over 100%");
    return *number;
}

// 3565158 -> "3.4 MiB"; below 1 KiB, "812 B".
inline std::string format_bytes(uint64_t bytes) {
    static constexpr const char* names[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) return std::to_string(bytes) + " B";
    double v = static_cast<double>(bytes);
    size_t i = 0;
    while (v >= 1024 && i + 1 < std::size(names)) {
        v /= 1024;
        ++i;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f %s", v, names[i]);
    return buf;
}

// Config values holding these quantities: a TOML integer (seconds / bytes) or a string to parse.

inline int64_t config_timespan(const housebrain::Config& cfg, std::string_view key) {
    const int32_t t = cfg.type(key);
    if (t == HB_CONFIG_INT) {
        const int64_t v = cfg.integer(key);
        if (v < 0) throw housebrain::ConfigError("config key '" + cfg.path(key) + "' must not be negative");
        return v;
    }
    if (t == HB_CONFIG_STRING) {
        auto v = parse_timespan(cfg.string(key));
        if (!v) throw housebrain::ConfigError("config key '" + cfg.path(key) + "': " + v.error());
        return *v;
    }
    if (t == HB_CONFIG_NONE) throw housebrain::ConfigError("missing config key '" + cfg.path(key) + "'");
    throw housebrain::ConfigError("config key '" + cfg.path(key) +
                                  "' must be a time span such as \"30d\" or an integer of seconds");
}

inline uint64_t config_size(const housebrain::Config& cfg, std::string_view key) {
    const int32_t t = cfg.type(key);
    if (t == HB_CONFIG_INT) {
        const int64_t v = cfg.integer(key);
        if (v < 0) throw housebrain::ConfigError("config key '" + cfg.path(key) + "' must not be negative");
        return static_cast<uint64_t>(v);
    }
    if (t == HB_CONFIG_STRING) {
        auto v = parse_size(cfg.string(key));
        if (!v) throw housebrain::ConfigError("config key '" + cfg.path(key) + "': " + v.error());
        return *v;
    }
    if (t == HB_CONFIG_NONE) throw housebrain::ConfigError("missing config key '" + cfg.path(key) + "'");
    throw housebrain::ConfigError("config key '" + cfg.path(key) +
                                  "' must be a size such as \"500M\" or an integer of bytes");
}

}  // namespace hbplugins

#endif  // HBPLUGINS_UNITS_HPP
