#include "logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/ansicolor_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace hb {

namespace {

std::shared_ptr<spdlog::logger> g_logger;

spdlog::level::level_enum to_spd(LogLevel l) {
    switch (l) {
        case LogLevel::debug: return spdlog::level::debug;
        case LogLevel::info: return spdlog::level::info;
        case LogLevel::warning: return spdlog::level::warn;
        case LogLevel::error: return spdlog::level::err;
    }
    return spdlog::level::info;
}

spdlog::level::level_enum parse_level(std::string_view s) {
    if (s == "debug") return spdlog::level::debug;
    if (s == "warning" || s == "warn") return spdlog::level::warn;
    if (s == "error") return spdlog::level::err;
    return spdlog::level::info;
}

// "%*" in the pattern: the syslog priority journald understands (sd-daemon.h's SD_ERR etc.).
class SyslogPriority final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
        int prio = 6;
        switch (msg.level) {
            case spdlog::level::trace:
            case spdlog::level::debug: prio = 7; break;
            case spdlog::level::info: prio = 6; break;
            case spdlog::level::warn: prio = 4; break;
            case spdlog::level::err: prio = 3; break;
            case spdlog::level::critical: prio = 2; break;
            default: break;
        }
        const char text[4] = {'<', static_cast<char>('0' + prio), '>', '\0'};
        dest.append(text, text + 3);
    }
    [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<SyslogPriority>();
    }
};

}  // namespace

bool stderr_is_journal() {
    const char* js = std::getenv("JOURNAL_STREAM");
    if (js == nullptr) return false;
    unsigned long long dev = 0, ino = 0;
    if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
    struct stat st {};
    if (::fstat(STDERR_FILENO, &st) != 0) return false;
    return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

void setup_logging(std::string_view level) {
    auto sink = std::make_shared<spdlog::sinks::ansicolor_stderr_sink_st>(spdlog::color_mode::automatic);
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    if (stderr_is_journal()) {
        formatter->add_flag<SyslogPriority>('*').set_pattern("%*%v");
    } else {
        formatter->set_pattern("%Y-%m-%d %H:%M:%S %^%-7l%$ %v");
    }
    sink->set_formatter(std::move(formatter));
    g_logger = std::make_shared<spdlog::logger>("housebrain-periodic", std::move(sink));
    g_logger->flush_on(spdlog::level::trace);
    set_log_level(level);
}

void set_log_level(std::string_view level) {
    if (g_logger) g_logger->set_level(parse_level(level));
}

bool log_enabled(LogLevel level) { return g_logger && g_logger->should_log(to_spd(level)); }

void log_line(LogLevel level, std::string_view message) {
    if (!g_logger) setup_logging("info");
    g_logger->log(to_spd(level), "{}", message);
}

}  // namespace hb
