#include "task_runner.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "discovery.h"
#include "host_services.h"
#include "plugin_loader.h"
#include "supervisor.h"

extern char** environ;

namespace hb {

namespace {

TimePoint now_us() { return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now()); }

// In the child: forwards the plugin's logs and error message to the host as frames.
class ChannelSink final : public ServicesSink {
public:
    void log(int32_t level, std::string_view message) override {
        write_all(kChannelFd, protocol::encode(protocol::Log{level, std::string(message)}));
    }
    void set_error(std::string_view message) override { error_.assign(message); }
    bool should_stop() override { return stop_requested(); }
    [[nodiscard]] const std::string& error() const { return error_; }

private:
    std::string error_;
};

int child_main(const TaskRequest& request, TimePoint start) {
    // Never unloaded: the process ends with _exit() right after run(), so dlclose() would only
    // cost time (the plugin's static destructors do not run, as documented in plugin.h).
    auto* loaded = new std::expected<LoadedPlugin, protocol::LoadFailure>(load_plugin_fd(kKeptFd));
    if (!*loaded) {
        write_all(kChannelFd, protocol::encode(loaded->error()));
        return 3;
    }
    write_all(kChannelFd, protocol::encode((*loaded)->summary));
    if (request.describe_only) return 0;
    // The host answers only when the run depends on the descriptor (a schedule the plugin suggests).
    if (request.proceed && read_control_byte() != 'G') return 0;
    ::close(kControlFd);
    ::close(kKeptFd);

    const Duration timeout = effective_timeout(request, &(*loaded)->summary);
    const int64_t deadline_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>((start + timeout).time_since_epoch()).count();
    static const ConfigValue empty = ConfigValue::make_table();
    ChannelSink sink;
    HostServices services(request.config ? *request.config : empty, request.task_name, request.run_id,
                          request.task_dir.string(), deadline_ms, sink);
    const hb_status status = (*loaded)->descriptor->run(services.table());
    // The child ends with _exit(), which does not flush stdio: without this, what a plugin wrote
    // with printf or std::cout to its stdout (a pipe, so fully buffered) would be lost.
    std::fflush(nullptr);
    write_all(kChannelFd, protocol::encode(protocol::Result{status, sink.error()}));
    return 0;
}

class RunEvents final : public ChildEvents {
public:
    RunEvents(const TaskRequest& request, TaskReport& report, SteadyTime started)
        : request_(request), report_(report), started_(started) {}

    std::optional<char> on_message(const protocol::Message& message) override {
        if (const auto* d = std::get_if<protocol::Descriptor>(&message)) {
            report_.descriptor = *d;
            deadline_ = started_ + effective_timeout(request_, d);
            go_ = !request_.describe_only && (!request_.proceed || request_.proceed(*d));
            // The child waits for an answer only when the decision depends on the descriptor.
            if (request_.describe_only || !request_.proceed) return std::nullopt;
            return go_ ? 'G' : 'S';
        }
        if (const auto* f = std::get_if<protocol::LoadFailure>(&message)) {
            load_failure_ = *f;
        } else if (const auto* l = std::get_if<protocol::Log>(&message)) {
            add_line({l->level, false, l->message});
        } else if (const auto* r = std::get_if<protocol::Result>(&message)) {
            result_ = *r;
        }
        return std::nullopt;
    }
    void on_output(std::string_view line) override { add_line({HB_LOG_INFO, true, std::string(line)}); }
    std::optional<SteadyTime> deadline() override { return deadline_; }

    bool go_ = false;
    std::optional<protocol::LoadFailure> load_failure_;
    std::optional<protocol::Result> result_;

private:
    void add_line(TaskLine line) {
        // Plugin log frames may carry several lines.
        size_t start = 0;
        while (start <= line.text.size()) {
            const auto nl = line.text.find('\n', start);
            const auto end = nl == std::string::npos ? line.text.size() : nl;
            if (end > start || nl == std::string::npos)
                report_.lines.push_back({line.level, line.output, line.text.substr(start, end - start)});
            if (nl == std::string::npos) break;
            start = nl + 1;
        }
    }

    const TaskRequest& request_;
    TaskReport& report_;
    SteadyTime started_;
    std::optional<SteadyTime> deadline_;
};

void classify(TaskReport& report, const RunEvents& ev, const ChildExit& ex, const TaskRequest& request) {
    auto set = [&](Outcome o, std::string m) {
        report.outcome = o;
        report.message = std::move(m);
    };
    const std::string how = ex.signal ? "killed by " + signal_name(ex.signal)
                                      : "exited with status " + std::to_string(ex.status);
    if (ev.result_) {
        switch (ev.result_->status) {
            case HB_STATUS_OK: set(Outcome::ok, ev.result_->message); break;
            case HB_STATUS_CANCELLED:
                set(ex.interrupted ? Outcome::interrupted : ex.timed_out ? Outcome::timed_out : Outcome::cancelled,
                    ev.result_->message.empty() ? "stopped early on request" : ev.result_->message);
                break;
            case HB_STATUS_FAILED:
                set(Outcome::failed, ev.result_->message.empty() ? "failed (no message)" : ev.result_->message);
                break;
            default:
                set(Outcome::failed, "unknown status " + std::to_string(ev.result_->status) +
                                         (ev.result_->message.empty() ? "" : ": " + ev.result_->message));
        }
        return;
    }
    if (ev.load_failure_) return set(Outcome::load_error, ev.load_failure_->message);
    if (!report.descriptor) {
        if (ex.timed_out) return set(Outcome::load_error, "timed out while loading");
        if (ex.interrupted) return set(Outcome::interrupted, "host stopped while loading");
        if (!ex.protocol_error.empty()) return set(Outcome::load_error, ex.protocol_error);
        return set(Outcome::load_error, ex.signal ? "crashed while loading (" + signal_name(ex.signal) +
                                                        ", e.g. in a static constructor)"
                                                  : "exited while loading (" + how + ")");
    }
    if (!ev.go_) {
        if (request.describe_only) return set(Outcome::ok, "loaded");
        return set(Outcome::skipped, "not run");
    }
    const auto timeout_s = std::chrono::duration_cast<std::chrono::seconds>(
                               effective_timeout(request, &*report.descriptor))
                               .count();
    if (ex.interrupted) return set(Outcome::interrupted, "stopped because the host was asked to stop");
    if (ex.timed_out)
        return set(Outcome::timed_out, "did not finish within " + std::to_string(timeout_s) + "s; " + how +
                                           (ex.unreaped ? " (still not reaped)" : ""));
    if (ex.signal) return set(Outcome::crashed, "killed by " + signal_name(ex.signal));
    if (!ex.protocol_error.empty()) return set(Outcome::no_result, ex.protocol_error);
    return set(Outcome::no_result, "exited with status " + std::to_string(ex.status) +
                                       " without reporting a result (exit() inside run?)");
}

}  // namespace

Duration effective_timeout(const TaskRequest& request, const protocol::Descriptor* descriptor) {
    if (request.timeout) return *request.timeout;
    if (descriptor != nullptr && descriptor->default_timeout_sec > 0)
        return std::chrono::seconds(descriptor->default_timeout_sec);
    return request.default_timeout;
}

std::vector<std::pair<std::string, std::string>> task_environment(
    const std::vector<std::string>& pass_env, const std::vector<std::pair<std::string, std::string>>& extra) {
    // No LD_PRELOAD, LD_LIBRARY_PATH or anything else the host happened to inherit.
    static constexpr std::array<std::string_view, 12> kAllowed{
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "STATE_DIRECTORY",
        "CONFIGURATION_DIRECTORY", "INVOCATION_ID", "SHELL"};
    std::vector<std::pair<std::string, std::string>> env;
    auto put = [&](std::string k, std::string v) {
        auto it = std::find_if(env.begin(), env.end(), [&](const auto& e) { return e.first == k; });
        if (it != env.end()) it->second = std::move(v);
        else env.emplace_back(std::move(k), std::move(v));
    };
    for (char** e = environ; e && *e; ++e) {
        const std::string_view kv(*e);
        const auto eq = kv.find('=');
        if (eq == std::string_view::npos) continue;
        const std::string_view k = kv.substr(0, eq);
        const bool allowed = std::find(kAllowed.begin(), kAllowed.end(), k) != kAllowed.end() || k.starts_with("LC_") ||
                             std::find(pass_env.begin(), pass_env.end(), k) != pass_env.end();
        if (allowed) put(std::string(k), std::string(kv.substr(eq + 1)));
    }
    if (std::none_of(env.begin(), env.end(), [](const auto& e) { return e.first == "PATH"; }))
        put("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for (const auto& [k, v] : extra) put(k, v);
    return env;
}

TaskReport run_task(const TaskRequest& request) {
    TaskReport report;
    report.start = now_us();
    const auto started = std::chrono::steady_clock::now();
    auto finish = [&]() -> TaskReport& {
        report.end = now_us();
        report.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now() - started)
                                 .count();
        return report;
    };

    auto checked = open_checked_plugin(request.plugins_dir, request.plugin_file);
    if (!checked) {
        const bool missing = checked.error().message == "does not exist";
        report.outcome = missing ? Outcome::missing : Outcome::refused;
        report.message = missing ? "plugin file " + (request.plugins_dir / request.plugin_file).string() + " does not exist"
                                 : "plugin " + request.plugin_file + " refused: " + checked.error().message;
        return finish();
    }
    report.identity = checked->identity;

    ChildSetup setup;
    setup.env = request.env;
    setup.limits = request.limits;
    setup.keep_fd = checked->fd.get();

    RunEvents events(request, report, started);
    SuperviseOptions opts;
    opts.deadline = started + effective_timeout(request, nullptr);
    opts.grace = std::chrono::duration_cast<std::chrono::milliseconds>(request.kill_grace);
    opts.output_cap = request.output_cap;
    const TimePoint start = report.start;
    auto ex = run_child(setup, [&] { return child_main(request, start); }, events, opts);
    checked->fd.reset();
    if (!ex) {
        report.outcome = Outcome::failed;
        report.message = "could not start the task's process: " + ex.error().message;
        return finish();
    }
    report.output_dropped = ex->output_dropped;
    report.cpu_us = ex->cpu_us;
    classify(report, events, *ex, request);
    return finish();
}

}  // namespace hb
