#include "manifest.h"

#include <fcntl.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <sstream>
#include <vector>

namespace hb {

namespace fs = std::filesystem;

const TaskSpec* Manifest::find(std::string_view name) const {
    for (const auto& t : tasks)
        if (t.name == name) return &t;
    return nullptr;
}

namespace {

// Raised inside this module only, turned into an Error at the module boundary.
struct ManifestError {
    std::string message;
};

class Parser {
public:
    Parser(std::string source, fs::path base_dir) : source_(std::move(source)), base_(std::move(base_dir)) {}

    [[noreturn]] void error(const toml::source_region& where, const std::string& why) const {
        std::ostringstream o;
        o << source_ << ':' << where.begin.line << ':' << where.begin.column << ": " << why;
        throw ManifestError{o.str()};
    }
    [[noreturn]] void error(const toml::node& n, const std::string& why) const { error(n.source(), why); }

    std::string string(const toml::node& n, std::string_view what) const {
        if (!n.is_string()) error(n, std::string(what) + " must be a string");
        return n.as_string()->get();
    }
    bool boolean(const toml::node& n, std::string_view what) const {
        if (!n.is_boolean()) error(n, std::string(what) + " must be true or false");
        return n.as_boolean()->get();
    }
    int64_t integer(const toml::node& n, std::string_view what, int64_t min) const {
        if (!n.is_integer()) error(n, std::string(what) + " must be an integer");
        const int64_t v = n.as_integer()->get();
        if (v < min) error(n, std::string(what) + " must be at least " + std::to_string(min));
        return v;
    }
    // A time span: systemd syntax in a string ("90s", "1h 30min") or an integer number of seconds.
    Duration span(const toml::node& n, std::string_view what) const {
        if (n.is_integer()) {
            const int64_t v = n.as_integer()->get();
            if (v <= 0 || v > 10LL * 365 * 86400) error(n, std::string(what) + " must be a positive number of seconds");
            return std::chrono::seconds(v);
        }
        if (!n.is_string()) error(n, std::string(what) + " must be a time span like \"90s\" or \"15min\"");
        auto d = parse_timespan(n.as_string()->get());
        if (!d) error(n, std::string(what) + ": " + d.error().message);
        return *d;
    }
    // A size in bytes: an integer, or a string with a K/M/G/T suffix (powers of 1024).
    uint64_t size(const toml::node& n, std::string_view what) const {
        if (n.is_integer()) {
            if (n.as_integer()->get() < 0) error(n, std::string(what) + " must not be negative");
            return static_cast<uint64_t>(n.as_integer()->get());
        }
        if (!n.is_string()) error(n, std::string(what) + " must be a size like 512M or an integer");
        const std::string s = n.as_string()->get();
        size_t used = 0;
        unsigned long long v = 0;
        try {
            v = std::stoull(s, &used);
        } catch (...) {
            error(n, std::string(what) + ": '" + s + "' is not a size");
        }
        std::string unit = s.substr(used);
        unit.erase(std::remove(unit.begin(), unit.end(), ' '), unit.end());
        if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b') && unit.size() > 1) unit.pop_back();
        uint64_t mult = 1;
        if (unit.empty() || unit == "B") mult = 1;
        else if (unit == "K" || unit == "k" || unit == "Ki") mult = 1ULL << 10;
        else if (unit == "M" || unit == "Mi") mult = 1ULL << 20;
        else if (unit == "G" || unit == "Gi") mult = 1ULL << 30;
        else if (unit == "T" || unit == "Ti") mult = 1ULL << 40;
        else error(n, std::string(what) + ": unknown size unit '" + unit + "'");
        return static_cast<uint64_t>(v) * mult;
    }
    fs::path path(const toml::node& n, std::string_view what) const {
        fs::path p = string(n, what);
        if (p.empty()) error(n, std::string(what) + " must not be empty");
        return p.is_absolute() ? p.lexically_normal() : (base_ / p).lexically_normal();
    }

    ConfigValue config(const toml::node& n) const {
        if (const auto* t = n.as_table()) {
            ConfigValue out = ConfigValue::make_table();
            auto& items = *std::get<std::shared_ptr<ConfigTable>>(out.v);
            for (auto&& [k, v] : *t) items.emplace_back(std::string(k.str()), config(v));
            return out;
        }
        if (const auto* a = n.as_array()) {
            auto items = std::make_shared<ConfigArray>();
            for (const auto& v : *a) items->push_back(config(v));
            return ConfigValue{items};
        }
        if (n.is_string()) return ConfigValue{n.as_string()->get()};
        if (n.is_integer()) return ConfigValue{n.as_integer()->get()};
        if (n.is_floating_point()) return ConfigValue{n.as_floating_point()->get()};
        if (n.is_boolean()) return ConfigValue{n.as_boolean()->get()};
        std::ostringstream o;
        if (n.is_date()) o << n.as_date()->get();
        else if (n.is_time()) o << n.as_time()->get();
        else if (n.is_date_time()) o << n.as_date_time()->get();
        return ConfigValue{ConfigDatetime{o.str()}};
    }

    void settings(const toml::table& t, Settings& s) const {
        for (auto&& [k, v] : t) {
            const std::string key(k.str());
            if (key == "plugins_dir") s.plugins_dir = path(v, key);
            else if (key == "state_dir") s.state_dir = path(v, key);
            else if (key == "log_level") {
                s.log_level = string(v, key);
                static const std::set<std::string> levels{"debug", "info", "warning", "error"};
                if (!levels.contains(s.log_level)) error(v, "log_level must be one of debug, info, warning, error");
            } else if (key == "default_timeout") s.default_timeout = span(v, key);
            else if (key == "kill_grace") s.kill_grace = span(v, key);
            else if (key == "history_limit") s.history_limit = integer(v, key, 1);
            else if (key == "quarantine_after") s.quarantine_after = integer(v, key, 0);
            else if (key == "quarantine_backoff") s.quarantine_backoff = span(v, key);
            else if (key == "quarantine_max_backoff") s.quarantine_max_backoff = span(v, key);
            else if (key == "output_cap") s.output_cap_bytes = size(v, key);
            else if (key == "metrics_file") s.metrics_file = path(v, key);
            else if (key == "pass_env") {
                const auto* a = v.as_array();
                if (a == nullptr) error(v, "pass_env must be an array of variable names");
                for (const auto& e : *a) s.pass_env.push_back(string(e, "pass_env entry"));
            } else error(k.source(), "unknown key '" + key + "' in [settings]");
        }
    }

    TaskLimits limits(const toml::node& n) const {
        const auto* t = n.as_table();
        if (t == nullptr) error(n, "limits must be a table");
        TaskLimits l;
        for (auto&& [k, v] : *t) {
            const std::string key(k.str());
            if (key == "address_space") l.address_space_bytes = size(v, key);
            else if (key == "data") l.data_bytes = size(v, key);
            else if (key == "open_files") l.open_files = static_cast<uint64_t>(integer(v, key, 3));
            else if (key == "cpu") l.cpu_seconds = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(span(v, key)).count());
            else if (key == "processes") l.processes = static_cast<uint64_t>(integer(v, key, 1));
            else if (key == "core") l.core_bytes = size(v, key);
            else error(k.source(), "unknown key '" + key + "' in limits (known: address_space, data, open_files, cpu, processes, core)");
        }
        return l;
    }

    TaskSpec task(const toml::node& n) const {
        const auto* t = n.as_table();
        if (t == nullptr) error(n, "each [[task]] must be a table");
        TaskSpec spec;
        spec.pos = {n.source().begin.line, n.source().begin.column};
        bool have_name = false;
        for (auto&& [k, v] : *t) {
            const std::string key(k.str());
            if (key == "name") {
                spec.name = string(v, key);
                have_name = true;
                if (spec.name.empty() || spec.name.find_first_of("/\n\t ") != std::string::npos)
                    error(v, "task name must be non-empty without spaces or '/'");
            } else if (key == "plugin") {
                spec.plugin = string(v, key);
                if (spec.plugin.empty() || spec.plugin.find('/') != std::string::npos || spec.plugin[0] == '.')
                    error(v, "plugin must be a file name inside plugins_dir, e.g. \"heartbeat\" or \"heartbeat.so\"");
                if (!spec.plugin.ends_with(".so")) spec.plugin += ".so";
            } else if (key == "enabled") spec.enabled = boolean(v, key);
            else if (key == "timeout") spec.timeout = span(v, key);
            else if (key == "schedule") {
                const std::string expr = string(v, key);
                if (auto c = CalendarSpec::parse(expr); !c) error(v, c.error().message);
                spec.schedule = expr;
            } else if (key == "every") spec.every = span(v, key);
            else if (key == "retry_on_failure") {
                if (v.is_boolean()) spec.max_retries = v.as_boolean()->get() ? 3 : 0;
                else spec.max_retries = integer(v, key, 0);
            } else if (key == "config") {
                if (!v.is_table()) error(v, "config must be a table");
                spec.config = config(v);
            } else if (key == "env") {
                const auto* e = v.as_table();
                if (e == nullptr) error(v, "env must be a table of strings");
                for (auto&& [ek, ev] : *e) spec.env.emplace_back(std::string(ek.str()), string(ev, "env value"));
            } else if (key == "limits") spec.limits = limits(v);
            else error(k.source(), "unknown key '" + key + "' in [[task]] (known: name, plugin, enabled, timeout, schedule, every, retry_on_failure, config, env, limits)");
        }
        if (!have_name) error(n, "task without a name");
        if (spec.plugin.empty()) spec.plugin = spec.name + ".so";
        if (spec.schedule && spec.every) error(n, "task '" + spec.name + "' sets both schedule and every; choose one");
        return spec;
    }

    Manifest manifest(const toml::table& root, const fs::path& fallback_plugins_dir) const {
        Manifest m;
        m.settings.plugins_dir = fallback_plugins_dir;
        std::set<std::string> names;
        for (auto&& [k, v] : root) {
            const std::string key(k.str());
            if (key == "settings") {
                if (!v.is_table()) error(v, "settings must be a table");
                settings(*v.as_table(), m.settings);
            } else if (key == "task") {
                const auto* a = v.as_array();
                if (a == nullptr) error(v, "tasks are written as [[task]] tables");
                for (const auto& item : *a) {
                    TaskSpec spec = task(item);
                    if (!names.insert(spec.name).second) error(item, "duplicate task name '" + spec.name + "'");
                    m.tasks.push_back(std::move(spec));
                }
            } else {
                error(k.source(), "unknown top-level key '" + key + "' (known: settings, task)");
            }
        }
        return m;
    }

private:
    std::string source_;
    fs::path base_;
};

}  // namespace

namespace {

// Offset of the first byte that is not part of well-formed UTF-8 (no overlong forms, surrogates or
// code points beyond U+10FFFF), or npos. Checked before toml++ sees the text: toml++ reports such
// a byte at the position of the character before it (the previous line for a byte at a line start).
size_t first_invalid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        size_t len = 0;
        unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
        if (b < 0x80) len = 1;
        else if (b >= 0xC2 && b <= 0xDF) len = 2;
        else if (b >= 0xE0 && b <= 0xEF) {
            len = 3;
            if (b == 0xE0) lo = 0xA0;
            if (b == 0xED) hi = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            len = 4;
            if (b == 0xF0) lo = 0x90;
            if (b == 0xF4) hi = 0x8F;
        } else return i;
        if (len > s.size() - i) return i;
        for (size_t k = 1; k < len; ++k) {
            const auto c = static_cast<unsigned char>(s[i + k]);
            if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return i;
        }
        i += len;
    }
    return std::string_view::npos;
}

// A non-ASCII character where toml++ 3.3 must not see one: its whitespace test reaches
// TOML_UNREACHABLE (undefined behaviour) for many code points, e.g. U+00A7 or U+03E3 (upstream
// marzer/tomlplusplus#190, fixed after 3.3; found by tests/fuzz). TOML allows non-ASCII characters
// only inside strings and comments, and toml++ tests them for whitespace wherever a token may end:
// outside strings; after a backslash in a string; and anywhere up to the next space, ',', ']', '}',
// '#' or line break after the start of an unquoted value (toml++ reads that far ahead to tell
// numbers, dates and booleans apart), quotes included. All of these are invalid TOML except a
// non-ASCII character right after a line-ending backslash in a """ string, rare enough to refuse.
// A small lexer (keys, values, arrays, inline tables, strings, comments) tells these places apart.
struct NonAscii {
    size_t offset = std::string_view::npos;
    const char* why = "";
};

NonAscii risky_non_ascii(std::string_view s) {
    const size_t n = s.size();
    constexpr size_t npos = std::string_view::npos;
    auto at = [&](size_t i) { return i < n ? s[i] : '\0'; };
    auto high = [&](size_t i) { return static_cast<unsigned char>(at(i)) >= 0x80; };
    auto triple = [&](size_t i, char q) { return at(i) == q && at(i + 1) == q && at(i + 2) == q; };
    NonAscii found;
    // Past the end of the string opened at i; sets `found` for a risky character inside.
    auto skip_string = [&](size_t i) -> size_t {
        const char q = s[i];
        const bool multi = triple(i, q);
        for (i += multi ? 3 : 1; i < n; ++i) {
            if (multi ? triple(i, q) : (s[i] == q || s[i] == '\n')) break;
            if (q == '\'' || s[i] != '\\') continue;
            size_t j = i + 1;
            while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r')) ++j;
            if (high(j)) {
                found = {j, "after a backslash"};
                return n;
            }
            if (!multi || at(j) != '\n') {
                ++i;  // an escape: skip the escaped character
                continue;
            }
            while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n')) ++j;
            if (high(j)) {
                found = {j, "right after a line-ending backslash (toml++ 3.3 cannot parse that: move it to the "
                            "previous line or write it as a \\u escape)"};
                return n;
            }
            i = j - 1;
        }
        if (!multi) return i + 1;
        for (i += 3; at(i) == q;) ++i;  // up to two quotes may end the content
        return i;
    };
    enum class Ctx { array, inline_table, header };
    std::vector<Ctx> stack;
    bool value = false;         // a value comes next (else a key)
    bool double_header = false;  // the header being read is [[...]]
    size_t i = 0;
    while (i < n && found.offset == npos) {
        const char c = s[i];
        if (c == ' ' || c == '\t' || c == '\r') {
            ++i;
        } else if (c == '\n') {
            if (stack.empty()) value = false;
            ++i;
        } else if (c == '#') {
            while (i < n && s[i] != '\n') ++i;
        } else if (c == '"' || c == '\'') {
            i = skip_string(i);
        } else if (static_cast<unsigned char>(c) >= 0x80) {
            return {i, "outside a quoted string or comment (TOML keys and values are ASCII unless quoted)"};
        } else if (c == '=') {
            value = true;
            ++i;
        } else if (c == '[') {
            if (value) {
                stack.push_back(Ctx::array);
            } else {
                stack.push_back(Ctx::header);
                double_header = at(i + 1) == '[';
                if (double_header) ++i;
            }
            ++i;
        } else if (c == '{') {
            stack.push_back(Ctx::inline_table);
            value = false;
            ++i;
        } else if (c == ']' || c == '}') {
            const bool header = !stack.empty() && stack.back() == Ctx::header;
            if (!stack.empty()) stack.pop_back();
            if (header && double_header && at(i + 1) == ']') ++i;
            value = !stack.empty() && stack.back() == Ctx::array;
            ++i;
        } else if (c == ',') {
            value = !stack.empty() && stack.back() == Ctx::array;
            ++i;
        } else if (value) {
            // An unquoted value: toml++ looks ahead to the next terminator, quotes and all.
            for (; i < n && std::string_view(" \t\r\n,]}#").find(s[i]) == npos; ++i)
                if (high(i)) return {i, "in an unquoted value (a string must be quoted on its own)"};
        } else {
            ++i;  // a bare key character or '.'
        }
    }
    return found;
}

// "line:column" of a byte offset in valid UTF-8 text (columns count characters, from 1).
std::string position_of(std::string_view text, size_t offset) {
    const std::string_view before = text.substr(0, offset);
    const size_t nl = before.rfind('\n');
    const size_t line_start = nl == std::string_view::npos ? 0 : nl + 1;
    const auto column = 1 + std::count_if(before.begin() + static_cast<std::ptrdiff_t>(line_start), before.end(),
                                          [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
    return std::to_string(1 + std::count(before.begin(), before.end(), '\n')) + ":" + std::to_string(column);
}

}  // namespace

Result<Manifest> parse_manifest(std::string_view text, const fs::path& source, const fs::path& fallback_plugins_dir) {
    const std::string name = source.string();
    if (text.size() > kMaxManifestBytes)
        return fail(name + ":1:1: manifest is larger than " + std::to_string(kMaxManifestBytes) + " bytes");
    if (const size_t bad = first_invalid_utf8(text); bad != std::string_view::npos) {
        char byte[8];
        std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned>(static_cast<unsigned char>(text[bad])));
        return fail(name + ":" + position_of(text, bad) + ": not valid UTF-8 (byte " + byte +
                    "); the manifest must be UTF-8 text");
    }
    if (const NonAscii bad = risky_non_ascii(text); bad.offset != std::string_view::npos) {
        size_t len = 1;
        while (bad.offset + len < text.size() && (static_cast<unsigned char>(text[bad.offset + len]) & 0xC0) == 0x80)
            ++len;
        return fail(name + ":" + position_of(text, bad.offset) + ": non-ASCII character '" +
                    std::string(text.substr(bad.offset, len)) + "' " + bad.why);
    }
    const fs::path abs = source.is_absolute() ? source : fs::absolute(source);
    Parser p(name, abs.parent_path());
    try {
        toml::table root = toml::parse(text, name);
        Manifest m = p.manifest(root, fallback_plugins_dir);
        m.file = abs;
        return m;
    } catch (const toml::parse_error& e) {
        std::ostringstream o;
        o << name << ':' << e.source().begin.line << ':' << e.source().begin.column << ": " << e.description();
        return fail(o.str());
    } catch (const ManifestError& e) {
        return fail(e.message);
    } catch (const std::exception& e) {
        return fail(name + ": " + e.what());
    }
}

Result<Manifest> load_manifest(const fs::path& file, const fs::path& fallback_plugins_dir) {
    // POSIX reads, not an ifstream: a read error (EIO, or EISDIR for a directory, which opens fine)
    // must fail the load instead of leaving a half-read text that may parse as a valid manifest.
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(file.string() + ": cannot open manifest: " + std::strerror(errno));
    std::string text;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int e = errno;
            ::close(fd);
            return fail(file.string() + ": cannot read manifest: " + std::strerror(e));
        }
        if (n == 0) break;
        text.append(buf, static_cast<size_t>(n));
        if (text.size() > kMaxManifestBytes) break;
    }
    ::close(fd);
    return parse_manifest(text, file, fallback_plugins_dir);
}

}  // namespace hb
