#include "app.h"

#include <fmt/format.h>
#include <housebrain/plugin.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include "cli.h"
#include "dirs.h"
#include "discovery.h"
#include "due.h"
#include "logging.h"
#include "manifest.h"
#include "metrics.h"
#include "run_lock.h"
#include "schedule.h"
#include "state.h"
#include "supervisor.h"
#include "task_runner.h"

namespace hb {

namespace fs = std::filesystem;

namespace {

// ---- small helpers -----------------------------------------------------------------------------

std::string json_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out.push_back('"');
    for (const char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
                else out.push_back(c);
        }
    }
    out.push_back('"');
    return out;
}

std::string json_opt_time(const std::optional<int64_t>& us) {
    if (!us) return "null";
    return json_escape(format_timestamp(TimePoint(std::chrono::microseconds(*us)), true));
}

std::string human_time(const std::optional<int64_t>& us) {
    if (!us) return "never";
    return format_timestamp(TimePoint(std::chrono::microseconds(*us)));
}

int64_t seconds_of(Duration d) { return std::chrono::duration_cast<std::chrono::seconds>(d).count(); }

// The clock: real time, shifted when --now is given (for tests of the due logic).
class Clock {
public:
    explicit Clock(std::optional<TimePoint> fake) {
        if (fake) offset_ = *fake - real();
    }
    [[nodiscard]] TimePoint now() const { return real() + offset_; }
    [[nodiscard]] Duration offset() const { return offset_; }

private:
    static TimePoint real() {
        return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
    }
    Duration offset_{0};
};

std::string make_run_id(TimePoint t) {
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
    const time_t tt = static_cast<time_t>(secs);
    struct tm tm {};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return fmt::format("{}-{}", buf, ::getpid());
}


// ---- the loaded world: manifest, plugins dir, tasks ---------------------------------------------

struct World {
    Options opts;
    Manifest manifest;
    PluginInventory inventory;
    std::vector<TaskSpec> tasks;  // manifest order, then drop-ins by file name
    fs::path state_dir;
    Clock clock{std::nullopt};
    std::string run_id;
};

fs::path default_config() {
    if (const char* d = std::getenv("CONFIGURATION_DIRECTORY"); d && *d) {
        // systemd may pass several, separated by ':'; the first is ours.
        std::string first(d);
        first = first.substr(0, first.find(':'));
        return fs::path(first) / "manifest.toml";
    }
    return HB_DEFAULT_CONFIG;
}

fs::path resolve_state_dir(const Options& o, const Manifest& m) {
    if (o.state_dir) return fs::absolute(*o.state_dir);
    if (m.settings.state_dir) return *m.settings.state_dir;
    if (const char* d = std::getenv("STATE_DIRECTORY"); d && *d) {
        std::string first(d);
        return first.substr(0, first.find(':'));
    }
    return HB_DEFAULT_STATE_DIR;
}

Result<World> load_world(const Options& opts) {
    World w;
    w.opts = opts;
    const fs::path config = opts.config ? fs::path(*opts.config) : default_config();
    auto m = load_manifest(config, HB_DEFAULT_PLUGINS_DIR);
    if (!m) return std::unexpected(m.error());
    w.manifest = std::move(*m);
    if (opts.plugins_dir) w.manifest.settings.plugins_dir = fs::absolute(*opts.plugins_dir).lexically_normal();
    set_log_level(opts.log_level ? *opts.log_level : w.manifest.settings.log_level);
    w.state_dir = resolve_state_dir(opts, w.manifest);
    if (opts.now) {
        auto t = parse_timestamp(*opts.now);
        if (!t) return fail("--now: " + t.error().message);
        w.clock = Clock(*t);
    }
    w.run_id = make_run_id(w.clock.now());

    w.inventory = scan_plugins_dir(w.manifest.settings.plugins_dir);
    w.tasks = w.manifest.tasks;
    std::set<std::string> used, names;
    for (const auto& t : w.tasks) {
        used.insert(t.plugin);
        names.insert(t.name);
    }
    for (const auto& f : w.inventory.files) {
        if (f.verdict != FileVerdict::plugin || used.contains(f.name)) continue;
        TaskSpec spec;
        spec.name = f.name.substr(0, f.name.size() - 3);
        if (names.contains(spec.name)) spec.name = f.name;
        spec.plugin = f.name;
        spec.drop_in = true;
        names.insert(spec.name);
        w.tasks.push_back(std::move(spec));
    }
    return w;
}

TaskRequest make_request(const World& w, const TaskSpec& spec) {
    const Settings& s = w.manifest.settings;
    TaskRequest r;
    r.task_name = spec.name;
    r.plugins_dir = s.plugins_dir;
    r.plugin_file = spec.plugin;
    r.config = &spec.config;
    r.run_id = w.run_id;
    r.task_dir = w.state_dir / "tasks" / spec.name;
    r.timeout = spec.timeout;
    r.default_timeout = s.default_timeout;
    r.kill_grace = s.kill_grace;
    r.output_cap = s.output_cap_bytes;
    r.limits = spec.limits;
    auto extra = spec.env;
    extra.emplace_back("HOUSEBRAIN_TASK", spec.name);
    extra.emplace_back("HOUSEBRAIN_RUN_ID", w.run_id);
    extra.emplace_back("HOUSEBRAIN_TASK_DIR", r.task_dir.string());
    r.env = task_environment(s.pass_env, extra);
    return r;
}

// Loads a plugin in a child only to read its descriptor (for --list, --check, --dry-run).
TaskReport describe(const World& w, const TaskSpec& spec) {
    TaskRequest r = make_request(w, spec);
    r.describe_only = true;
    r.timeout = std::chrono::seconds(30);
    return run_task(r);
}

const PluginFile* file_of(const World& w, const TaskSpec& spec) { return w.inventory.find(spec.plugin); }

std::optional<StateStore> open_state_for_reading(const World& w) {
    std::error_code ec;
    if (!fs::exists(w.state_dir / "state.sqlite3", ec)) return std::nullopt;
    std::vector<std::string> warnings;
    auto st = StateStore::open(w.state_dir, warnings);
    for (const auto& m : warnings) log_line(LogLevel::warning, m);
    if (!st) {
        log_line(LogLevel::warning, "state not available: " + st.error().message);
        return std::nullopt;
    }
    return std::move(*st);
}

// ---- logging a task's result ---------------------------------------------------------------------

LogLevel level_for_line(const TaskLine& line, bool ok) {
    if (line.output) return ok ? LogLevel::debug : LogLevel::warning;
    switch (line.level) {
        case HB_LOG_DEBUG: return LogLevel::debug;
        case HB_LOG_INFO: return ok ? LogLevel::debug : LogLevel::info;
        case HB_LOG_WARNING: return LogLevel::warning;
        default: return LogLevel::error;
    }
}

void log_report(const World& w, const TaskSpec& spec, const TaskReport& rep, const TaskState* before) {
    const bool ok = outcome_ok(rep.outcome);
    for (const auto& line : rep.lines) {
        const LogLevel lvl = level_for_line(line, ok);
        if (log_enabled(lvl)) log_line(lvl, fmt::format("[{}] {}", spec.name, line.text));
    }
    if (rep.output_dropped > 0)
        log_line(LogLevel::warning, fmt::format("[{}] output truncated: {} bytes dropped beyond the {} byte cap "
                                                "(run {})",
                                                spec.name, rep.output_dropped, w.manifest.settings.output_cap_bytes,
                                                w.run_id));
    const std::string head = fmt::format("task '{}' {}", spec.name, outcome_name(rep.outcome));
    const std::string tail = fmt::format("(run {}, {} ms)", w.run_id, rep.duration_ms);
    if (ok) {
        if (before && !before->last_outcome.empty() && before->last_outcome != "ok" &&
            before->last_outcome != "interrupted")
            log_line(LogLevel::warning, fmt::format("{}: recovered after {} failed run(s) {}", head,
                                                    before->consecutive_failures, tail));
        else
            log_line(LogLevel::debug, fmt::format("{} {}", head, tail));
        return;
    }
    const bool first = before != nullptr && before->last_outcome == "ok";
    const LogLevel lvl = rep.outcome == Outcome::interrupted || rep.outcome == Outcome::cancelled ? LogLevel::warning
                                                                                                    : LogLevel::error;
    log_line(lvl, fmt::format("{}: {} {}{}", head, rep.message, tail, first ? " (first failure after success)" : ""));
}

// ---- actions -------------------------------------------------------------------------------------

struct RunTotals {
    int ran = 0, ok = 0, not_ok = 0, skipped = 0;
    bool state_error = false;
    bool interrupted = false;
};

QuarantinePolicy policy_of(const Settings& s) {
    return {s.quarantine_after, s.quarantine_backoff, s.quarantine_max_backoff};
}

// Runs one task if due (or unconditionally when `force`), records it, logs it.
void run_one(World& w, StateStore& store, std::map<std::string, TaskState>& states, const TaskSpec& spec, bool force,
             RunTotals& totals) {
    const TaskState* before = nullptr;
    if (auto it = states.find(spec.name); it != states.end()) before = &it->second;
    const PluginFile* file = file_of(w, spec);
    const std::string identity = file ? file->identity : "";

    DueInput in{&spec, before, "", identity, w.clock.now()};
    DueDecision pre = decide_due(in);
    const bool needs_default_schedule = !force && !spec.schedule && !spec.every && spec.enabled && !pre.quarantined &&
                                        !pre.retry && before && before->last_start_us;
    if (!force && !needs_default_schedule && !pre.due) {
        ++totals.skipped;
        if (pre.quarantined)
            log_line(LogLevel::debug, fmt::format("task '{}' skipped: {}", spec.name, pre.reason));
        return;
    }
    bool was_retry = !force && pre.retry;
    bool release = pre.release_quarantine;

    TaskRequest req = make_request(w, spec);
    if (auto made = make_private_dirs(req.task_dir); !made) {
        log_line(LogLevel::error, fmt::format("task '{}': {}", spec.name, made.error().message));
        totals.state_error = true;
        return;
    }
    if (needs_default_schedule) {
        req.proceed = [&](const protocol::Descriptor& d) {
            in.default_schedule = d.default_schedule;
            in.now = w.clock.now();
            const DueDecision dd = decide_due(in);
            was_retry = dd.retry;
            release = release || dd.release_quarantine;
            return dd.due;
        };
    }
    const TaskReport rep = run_task(req);
    if (rep.outcome == Outcome::skipped) {
        ++totals.skipped;
        return;
    }
    ++totals.ran;
    if (outcome_ok(rep.outcome)) ++totals.ok;
    else ++totals.not_ok;
    if (rep.outcome == Outcome::interrupted) totals.interrupted = true;
    log_report(w, spec, rep, before);

    TaskState next = before ? *before : TaskState{};
    next.task = spec.name;
    if (release) {
        next.crash_streak = 0;
        next.quarantined_until_us.reset();
    }
    const TimePoint start = rep.start + w.clock.offset();
    const TimePoint end = rep.end + w.clock.offset();
    apply_result(next, std::string(outcome_name(rep.outcome)), rep.message, start, end, rep.duration_ms, was_retry,
                 rep.identity.empty() ? identity : rep.identity, policy_of(w.manifest.settings));
    if (next.quarantined_until_us && (!before || !before->quarantined_until_us))
        log_line(LogLevel::error,
                 fmt::format("task '{}' quarantined until {} after {} crashes or timeouts in a row (run {}); it is "
                             "released when its plugin file changes or by --reset {}",
                             spec.name, human_time(next.quarantined_until_us), next.crash_streak, w.run_id,
                             spec.name));
    RunRecord rec{w.run_id, spec.name, start.time_since_epoch().count(), end.time_since_epoch().count(),
                  std::string(outcome_name(rep.outcome)), rep.message, rep.duration_ms};
    if (auto saved = store.save_result(next, rec, w.manifest.settings.history_limit); !saved) {
        log_line(LogLevel::error, fmt::format("cannot record the result of task '{}': {} (run {})", spec.name,
                                              saved.error().message, w.run_id));
        totals.state_error = true;
    } else {
        next.runs_by_outcome[rec.outcome] += 1;
        states[spec.name] = std::move(next);
    }
}

// Opens the lock and the state for a run; returns an exit code on failure.
std::optional<int> open_for_run(const World& w, RunLock& lock, std::optional<StateStore>& store) {
    // try_acquire creates the state directory when it is missing.
    auto got = RunLock::try_acquire(w.state_dir, lock);
    if (!got) {
        log_line(LogLevel::error, "state directory unusable: " + got.error().message);
        return kExitState;
    }
    if (*got == RunLock::Status::busy) {
        log_line(LogLevel::error, fmt::format("another housebrain-periodic run holds the lock in {}; not starting a "
                                              "second one",
                                              w.state_dir.string()));
        return kExitLocked;
    }
    std::vector<std::string> warnings;
    auto st = StateStore::open(w.state_dir, warnings);
    for (const auto& m : warnings) log_line(LogLevel::warning, m);
    if (!st) {
        log_line(LogLevel::error, "state unusable: " + st.error().message);
        return kExitState;
    }
    store = std::move(*st);
    return std::nullopt;
}

void report_problems_of_inventory(const World& w) {
    if (!w.inventory.dir_problem.empty()) log_line(LogLevel::error, "plugins directory: " + w.inventory.dir_problem);
    std::set<std::string> used;
    for (const auto& t : w.tasks) used.insert(t.plugin);
    for (const auto& f : w.inventory.files)
        if (f.verdict == FileVerdict::refused && !used.contains(f.name))
            log_line(LogLevel::error, fmt::format("plugin {} refused: {}", f.name, f.reason));
}

int action_run(World& w, const std::string& only_task) {
    RunLock lock;
    std::optional<StateStore> store;
    if (auto code = open_for_run(w, lock, store)) return *code;
    auto loaded = store->load_all();
    if (!loaded) {
        log_line(LogLevel::error, "cannot read state: " + loaded.error().message);
        return kExitState;
    }
    std::map<std::string, TaskState> states = std::move(*loaded);
    const auto t0 = std::chrono::steady_clock::now();
    RunTotals totals;
    if (only_task.empty()) {
        report_problems_of_inventory(w);
        for (const auto& spec : w.tasks) {
            if (stop_requested()) break;
            run_one(w, *store, states, spec, false, totals);
        }
    } else {
        const TaskSpec* spec = nullptr;
        for (const auto& t : w.tasks)
            if (t.name == only_task) spec = &t;
        if (spec == nullptr) {
            log_line(LogLevel::error, fmt::format("no task named '{}' (see --list)", only_task));
            return kExitUsage;
        }
        run_one(w, *store, states, *spec, true, totals);
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    if (w.manifest.settings.metrics_file) {
        if (auto m = write_metrics(*w.manifest.settings.metrics_file, states, ms); !m)
            log_line(LogLevel::warning, "cannot write metrics: " + m.error().message);
    }
    const std::string summary = fmt::format("run {}: {} task(s) ran, {} ok, {} not ok, {} not due, in {} ms", w.run_id,
                                            totals.ran, totals.ok, totals.not_ok, totals.skipped, ms);
    if (stop_requested())
        log_line(LogLevel::warning, summary + "; stopped early on SIGTERM/SIGINT");
    else
        log_line(totals.ran > 0 ? LogLevel::info : LogLevel::debug, summary);
    if (totals.state_error) return kExitState;
    return totals.not_ok > 0 || stop_requested() ? kExitTaskFailed : kExitOk;
}

struct ListedTask {
    const TaskSpec* spec;
    TaskReport report;  // from describe(); outcome ok when the plugin loaded
    std::optional<TaskState> state;
    DueDecision due;
};

std::vector<ListedTask> survey(const World& w, std::optional<StateStore>& store, bool load_plugins) {
    std::map<std::string, TaskState> states;
    if (store) {
        if (auto all = store->load_all()) states = std::move(*all);
    }
    std::vector<ListedTask> out;
    for (const auto& spec : w.tasks) {
        ListedTask lt{&spec, {}, std::nullopt, {}};
        if (auto it = states.find(spec.name); it != states.end()) lt.state = it->second;
        if (load_plugins) lt.report = describe(w, spec);
        const PluginFile* f = file_of(w, spec);
        DueInput in{&spec, lt.state ? &*lt.state : nullptr,
                    lt.report.descriptor ? lt.report.descriptor->default_schedule : "", f ? f->identity : "",
                    w.clock.now()};
        lt.due = decide_due(in);
        out.push_back(std::move(lt));
    }
    return out;
}

std::string plugin_problem(const ListedTask& t) {
    if (t.report.outcome == Outcome::ok) return {};
    return std::string(outcome_name(t.report.outcome)) + ": " + t.report.message;
}

int action_list(World& w) {
    auto store = open_state_for_reading(w);
    const auto tasks = survey(w, store, true);
    if (w.opts.json) {
        std::string o = "{\"manifest\":" + json_escape(w.manifest.file.string()) +
                        ",\"plugins_dir\":" + json_escape(w.manifest.settings.plugins_dir.string()) + ",\"tasks\":[";
        bool first = true;
        for (const auto& t : tasks) {
            const auto& d = t.report.descriptor;
            const Duration timeout = t.spec->timeout ? *t.spec->timeout
                                     : d && d->default_timeout_sec ? std::chrono::seconds(d->default_timeout_sec)
                                                                   : w.manifest.settings.default_timeout;
            o += first ? "" : ",";
            first = false;
            o += fmt::format(
                "{{\"name\":{},\"plugin_file\":{},\"drop_in\":{},\"enabled\":{},\"timeout_sec\":{},\"schedule\":{},"
                "\"plugin_name\":{},\"plugin_version\":{},\"abi_version\":{},\"description\":{},\"problem\":{},"
                "\"last_run\":{},\"last_outcome\":{},\"last_message\":{},\"next_due\":{},\"due_now\":{},"
                "\"reason\":{},\"failure_streak\":{},\"quarantined_until\":{}}}",
                json_escape(t.spec->name), json_escape(t.spec->plugin), t.spec->drop_in, t.spec->enabled,
                seconds_of(timeout), json_escape(schedule_text(*t.spec, d ? d->default_schedule : "")),
                d ? json_escape(d->name) : "null", d ? json_escape(d->version) : "null",
                d ? json_escape(fmt::format("{}.{}", HB_ABI_VERSION_GET_MAJOR(d->abi_version),
                                            HB_ABI_VERSION_GET_MINOR(d->abi_version)))
                  : "null",
                d ? json_escape(d->description) : "null",
                plugin_problem(t).empty() ? "null" : json_escape(plugin_problem(t)),
                json_opt_time(t.state ? t.state->last_start_us : std::nullopt),
                t.state && !t.state->last_outcome.empty() ? json_escape(t.state->last_outcome) : "null",
                t.state ? json_escape(t.state->last_message) : "null",
                t.due.due ? json_escape("now")
                : t.due.next_due ? json_escape(format_timestamp(*t.due.next_due, true))
                                 : "null",
                t.due.due, json_escape(t.due.reason), t.state ? t.state->consecutive_failures : 0,
                json_opt_time(t.due.quarantined && t.state ? t.state->quarantined_until_us : std::nullopt));
        }
        auto files = [&](FileVerdict verdict) {
            std::string list;
            for (const auto& f : w.inventory.files)
                if (f.verdict == verdict)
                    list += fmt::format("{}{{\"file\":{},\"reason\":{}}}", list.empty() ? "" : ",",
                                        json_escape(f.name), json_escape(f.reason));
            return list;
        };
        o += "],\"refused\":[" + files(FileVerdict::refused) + "],\"ignored\":[" + files(FileVerdict::ignored) + "]}";
        std::cout << o << '\n';
        return kExitOk;
    }
    std::cout << "manifest:    " << w.manifest.file.string() << "\nplugins dir: "
              << w.manifest.settings.plugins_dir.string() << "\nstate dir:   " << w.state_dir.string() << "\n\n";
    if (!w.inventory.dir_problem.empty()) std::cout << "plugins directory problem: " << w.inventory.dir_problem << "\n\n";
    std::cout << "tasks (in run order):\n";
    int i = 0;
    for (const auto& t : tasks) {
        const auto& d = t.report.descriptor;
        const Duration timeout = t.spec->timeout ? *t.spec->timeout
                                 : d && d->default_timeout_sec ? std::chrono::seconds(d->default_timeout_sec)
                                                               : w.manifest.settings.default_timeout;
        std::cout << fmt::format("{:3}. {}{}  [{}]\n", ++i, t.spec->name, t.spec->drop_in ? " (drop-in)" : "",
                                 t.spec->enabled ? "enabled" : "disabled");
        if (d)
            std::cout << fmt::format("     plugin   {}: {} {} (ABI {}.{}){}\n", t.spec->plugin, d->name, d->version,
                                     HB_ABI_VERSION_GET_MAJOR(d->abi_version), HB_ABI_VERSION_GET_MINOR(d->abi_version),
                                     d->description.empty() ? "" : " - " + d->description);
        else
            std::cout << fmt::format("     plugin   {}: {}\n", t.spec->plugin, plugin_problem(t));
        std::cout << fmt::format("     schedule {}; timeout {}\n", schedule_text(*t.spec, d ? d->default_schedule : ""),
                                 format_timespan(timeout));
        if (t.state && t.state->last_start_us)
            std::cout << fmt::format("     last run {}: {}{} ({} ms); failures in a row: {}\n",
                                     human_time(t.state->last_start_us), t.state->last_outcome,
                                     t.state->last_message.empty() ? "" : " - " + t.state->last_message,
                                     t.state->last_duration_ms, t.state->consecutive_failures);
        else
            std::cout << "     last run never\n";
        std::cout << fmt::format("     {}{}\n", t.due.quarantined ? "QUARANTINED: " : t.due.due ? "due now: " : "",
                                 t.due.reason);
    }
    auto files = [&](const char* title, FileVerdict verdict) {
        std::cout << '\n' << title << ":\n";
        int n = 0;
        for (const auto& f : w.inventory.files)
            if (f.verdict == verdict) std::cout << fmt::format("     {}: {}\n", f.name, f.reason), ++n;
        if (n == 0) std::cout << "     none\n";
    };
    files("refused plugin files (never loaded)", FileVerdict::refused);
    files("ignored files", FileVerdict::ignored);
    return kExitOk;
}

int action_check(World& w) {
    // Quiet (the unit's ExecStartPre=): silence when all is well, each problem a warning in the log.
    const bool quiet = w.opts.quiet;
    int problems = 0;
    auto problem = [&](const std::string& text) {
        ++problems;
        if (quiet) log_line(LogLevel::warning, "check: " + text);
        else std::cout << "problem: " << text << '\n';
    };
    auto note = [&](const std::string& text) {
        if (!quiet) std::cout << text << '\n';
    };
    if (!w.inventory.dir_problem.empty()) problem("plugins directory: " + w.inventory.dir_problem);
    for (const auto& spec : w.tasks) {
        const TaskReport r = describe(w, spec);
        if (r.outcome == Outcome::ok && r.descriptor) {
            note(fmt::format("ok:      task '{}': {} {} from {}", spec.name, r.descriptor->name, r.descriptor->version,
                             spec.plugin));
            const std::string expr = spec.schedule || spec.every ? "" : r.descriptor->default_schedule;
            if (!expr.empty()) {
                if (auto c = CalendarSpec::parse(expr); !c)
                    problem(fmt::format("task '{}': plugin suggests an invalid schedule: {}", spec.name,
                                        c.error().message));
            }
        } else {
            problem(fmt::format("task '{}' ({}): {}: {}", spec.name, spec.plugin, outcome_name(r.outcome), r.message));
        }
    }
    std::set<std::string> used;
    for (const auto& t : w.tasks) used.insert(t.plugin);
    for (const auto& f : w.inventory.files) {
        if (f.verdict == FileVerdict::refused && !used.contains(f.name))
            problem(fmt::format("{} refused: {}", f.name, f.reason));
        else if (f.verdict == FileVerdict::ignored)
            note(fmt::format("ignored: {}: {}", f.name, f.reason));
    }
    if (problems) {
        if (!quiet) std::cout << fmt::format("{} problem(s) found\n", problems);
    } else {
        note("manifest and plugins ok");
    }
    return problems ? kExitTaskFailed : kExitOk;
}

int action_dry_run(World& w) {
    auto store = open_state_for_reading(w);
    const auto tasks = survey(w, store, true);
    std::cout << fmt::format("at {}:\n", format_timestamp(w.clock.now()));
    for (const auto& t : tasks) {
        std::string verdict;
        const std::string problem = plugin_problem(t);
        if (!problem.empty() && t.report.outcome != Outcome::ok) {
            verdict = fmt::format("would fail: {}", problem);
        } else if (t.due.due) {
            verdict = "would run: " + t.due.reason;
        } else {
            verdict = "would not run: " + t.due.reason;
        }
        if (w.opts.json)
            std::cout << fmt::format("{{\"task\":{},\"due\":{},\"explanation\":{}}}\n", json_escape(t.spec->name),
                                     t.due.due && problem.empty(), json_escape(verdict));
        else
            std::cout << fmt::format("  {}: {}\n", t.spec->name, verdict);
    }
    for (const auto& f : w.inventory.files)
        if (f.verdict == FileVerdict::refused)
            std::cout << fmt::format("  (file {} is refused: {})\n", f.name, f.reason);
    return kExitOk;
}

int action_history(World& w) {
    auto store = open_state_for_reading(w);
    if (!store) {
        std::cout << "no history yet (" << (w.state_dir / "state.sqlite3").string() << " does not exist)\n";
        return kExitOk;
    }
    auto rows = store->history(w.opts.task, w.opts.history_limit);
    if (!rows) {
        log_line(LogLevel::error, "cannot read history: " + rows.error().message);
        return kExitState;
    }
    for (const auto& r : *rows) {
        if (w.opts.json)
            std::cout << fmt::format(
                "{{\"run_id\":{},\"task\":{},\"start\":{},\"end\":{},\"outcome\":{},\"message\":{},\"duration_ms\":{}}}\n",
                json_escape(r.run_id), json_escape(r.task), json_opt_time(r.start_us), json_opt_time(r.end_us),
                json_escape(r.outcome), json_escape(r.message), r.duration_ms);
        else
            std::cout << fmt::format("{}  {}  {:<20} {:<12} {:>7} ms  {}\n", human_time(r.start_us), r.run_id, r.task,
                                     r.outcome, r.duration_ms, r.message);
    }
    return kExitOk;
}

int action_reset(World& w) {
    RunLock lock;
    std::optional<StateStore> store;
    if (auto code = open_for_run(w, lock, store)) return *code;
    auto r = store->reset(w.opts.task);
    if (!r) {
        log_line(LogLevel::error, "cannot reset: " + r.error().message);
        return kExitState;
    }
    std::cout << (*r ? fmt::format("task '{}' reset: failure streak, retries and quarantine cleared\n", w.opts.task)
                     : fmt::format("task '{}' has no state; nothing to reset\n", w.opts.task));
    return kExitOk;
}

int action_calendar(const Options& o) {
    TimePoint base = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
    if (o.base_time) {
        auto t = parse_timestamp(*o.base_time);
        if (!t) {
            std::cerr << "--base-time: " << t.error().message << '\n';
            return kExitUsage;
        }
        base = *t;
    }
    auto report = calendar_report(o.calendar, base, o.iterations);
    if (!report) {
        std::cerr << report.error().message << '\n';
        return kExitUsage;
    }
    std::cout << *report;
    return kExitOk;
}

}  // namespace

int run_app(int argc, const char* const* argv) {
    setup_logging("info");
    auto opts = parse_command_line(argc, argv);
    if (!opts) {
        std::cerr << "housebrain-periodic: " << opts.error().message << '\n';
        return kExitUsage;
    }
    if (opts->command == Command::help) {
        std::cout << opts->help_text;
        return kExitOk;
    }
    if (opts->command == Command::version) {
        std::cout << "housebrain-periodic " << HB_VERSION << " (plugin ABI " << HB_ABI_VERSION_MAJOR << '.'
                  << HB_ABI_VERSION_MINOR << ")\n";
        return kExitOk;
    }
    if (opts->command == Command::calendar) return action_calendar(*opts);
    if (opts->log_level) set_log_level(*opts->log_level);

    install_supervisor_signals();
    auto world = load_world(*opts);
    if (!world) {
        log_line(LogLevel::error, world.error().message + "; nothing was run");
        return kExitUsage;
    }
    switch (opts->command) {
        case Command::list: return action_list(*world);
        case Command::check: return action_check(*world);
        case Command::run_task: return action_run(*world, opts->task);
        case Command::dry_run: return action_dry_run(*world);
        case Command::history: return action_history(*world);
        case Command::reset: return action_reset(*world);
        default: return action_run(*world, "");
    }
}

}  // namespace hb
