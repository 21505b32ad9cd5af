#include "metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "unique_fd.h"

namespace hb {

namespace {

std::string label(std::string_view v) {
    std::string out;
    for (const char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out.push_back(c);
    }
    return out;
}

std::string num(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6f", v);
    return buf;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

std::string render_metrics(const std::map<std::string, TaskState>& states, int64_t run_duration_ms, int64_t now_unix_s) {
    std::string o;
    header(o, "housebrain_task_last_run_timestamp_seconds", "gauge", "Start of the task's last finished run.");
    for (const auto& [name, s] : states)
        if (s.last_start_us)
            o += "housebrain_task_last_run_timestamp_seconds{task=\"" + label(name) + "\"} " +
                 num(static_cast<double>(*s.last_start_us) / 1e6) + "\n";
    header(o, "housebrain_task_last_success_timestamp_seconds", "gauge", "End of the task's last successful run.");
    for (const auto& [name, s] : states)
        if (s.last_success_us)
            o += "housebrain_task_last_success_timestamp_seconds{task=\"" + label(name) + "\"} " +
                 num(static_cast<double>(*s.last_success_us) / 1e6) + "\n";
    header(o, "housebrain_task_last_duration_seconds", "gauge", "Duration of the task's last run.");
    for (const auto& [name, s] : states)
        o += "housebrain_task_last_duration_seconds{task=\"" + label(name) + "\"} " +
             num(static_cast<double>(s.last_duration_ms) / 1e3) + "\n";
    header(o, "housebrain_task_last_outcome", "gauge", "1 for the outcome of the task's last run.");
    for (const auto& [name, s] : states)
        if (!s.last_outcome.empty())
            o += "housebrain_task_last_outcome{task=\"" + label(name) + "\",outcome=\"" + label(s.last_outcome) +
                 "\"} 1\n";
    header(o, "housebrain_task_failure_streak", "gauge", "Runs in a row that did not succeed.");
    for (const auto& [name, s] : states)
        o += "housebrain_task_failure_streak{task=\"" + label(name) + "\"} " + std::to_string(s.consecutive_failures) +
             "\n";
    header(o, "housebrain_task_quarantined", "gauge", "1 while the task is quarantined.");
    for (const auto& [name, s] : states)
        o += "housebrain_task_quarantined{task=\"" + label(name) + "\"} " +
             std::string(s.quarantined_until_us && *s.quarantined_until_us / 1000000 > now_unix_s ? "1" : "0") + "\n";
    header(o, "housebrain_task_runs_total", "counter", "Runs of the task by outcome.");
    for (const auto& [name, s] : states)
        for (const auto& [outcome, n] : s.runs_by_outcome)
            o += "housebrain_task_runs_total{task=\"" + label(name) + "\",outcome=\"" + label(outcome) + "\"} " +
                 std::to_string(n) + "\n";
    header(o, "housebrain_run_duration_seconds", "gauge", "Duration of the host's last run over all tasks.");
    o += "housebrain_run_duration_seconds " + num(static_cast<double>(run_duration_ms) / 1e3) + "\n";
    header(o, "housebrain_run_last_timestamp_seconds", "gauge", "When the host's last run ended.");
    o += "housebrain_run_last_timestamp_seconds " + std::to_string(now_unix_s) + "\n";
    return o;
}

Result<void> write_metrics(const std::filesystem::path& file, const std::map<std::string, TaskState>& states,
                           int64_t run_duration_ms) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const std::string text = render_metrics(states, run_duration_ms, now);
    // node_exporter reads only *.prom, so the temp name must not end in .prom.
    const std::string tmp = file.string() + ".tmp." + std::to_string(::getpid());
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid()) return fail(tmp + ": " + std::strerror(errno));
    size_t off = 0;
    while (off < text.size()) {
        const ssize_t n = ::write(fd.get(), text.data() + off, text.size() - off);
        if (n < 0) {
            const int e = errno;
            ::unlink(tmp.c_str());
            return fail(tmp + ": " + std::strerror(e));
        }
        off += static_cast<size_t>(n);
    }
    if (::fsync(fd.get()) != 0 || ::close(fd.release()) != 0) {
        const int e = errno;
        ::unlink(tmp.c_str());
        return fail(tmp + ": " + std::strerror(e));
    }
    if (::rename(tmp.c_str(), file.c_str()) != 0) {
        const int e = errno;
        ::unlink(tmp.c_str());
        return fail(file.string() + ": " + std::strerror(e));
    }
    return {};
}

}  // namespace hb
