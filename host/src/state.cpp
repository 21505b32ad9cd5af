#include "state.h"

#include "dirs.h"

#include <sqlite3.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <string_view>
#include <system_error>
#include <utility>

namespace hb {

namespace fs = std::filesystem;

namespace {

constexpr int kSchemaVersion = 1;
constexpr int kBusyTimeoutMs = 1000;  // the run lock keeps other hosts out; this only covers a reader
constexpr const char* kFileName = "state.sqlite3";

// The whole schema of version 1, created in one transaction together with user_version, so a
// database with user_version 0 and any table in it was not made by us.
constexpr const char* kSchema = R"sql(
CREATE TABLE task_state (
    task                 TEXT PRIMARY KEY NOT NULL,
    last_start_us        INTEGER,
    last_end_us          INTEGER,
    last_success_us      INTEGER,
    last_outcome         TEXT NOT NULL DEFAULT '',
    last_message         TEXT NOT NULL DEFAULT '',
    last_duration_ms     INTEGER NOT NULL DEFAULT 0,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    crash_streak         INTEGER NOT NULL DEFAULT 0,
    retries_used         INTEGER NOT NULL DEFAULT 0,
    quarantined_until_us INTEGER,
    plugin_identity      TEXT NOT NULL DEFAULT ''
);
CREATE TABLE task_totals (
    task    TEXT NOT NULL,
    outcome TEXT NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (task, outcome)
) WITHOUT ROWID;
CREATE TABLE history (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL,
    task        TEXT NOT NULL,
    start_us    INTEGER NOT NULL,
    end_us      INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    message     TEXT NOT NULL,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX history_task_start ON history (task, start_us);
PRAGMA user_version = 1;
)sql";

constexpr const char* kStateColumns =
    "s.task, s.last_start_us, s.last_end_us, s.last_success_us, s.last_outcome, s.last_message, "
    "s.last_duration_ms, s.consecutive_failures, s.crash_streak, s.retries_used, s.quarantined_until_us, "
    "s.plugin_identity, t.outcome, t.count";


// SQLite's message plus, when the OS said something, the errno text (ENOSPC, EROFS, EACCES...).
std::string db_reason(sqlite3* db, int rc) {
    std::string r = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    const int e = db ? sqlite3_system_errno(db) : 0;
    if (e != 0) {
        const std::string t = errno_text(e);
        if (r.find(t) == std::string::npos) r += " (" + t + ")";
    }
    return r;
}

// The file itself is bad (move it aside) as opposed to the directory or disk being unusable.
bool file_is_bad(int rc) {
    const int primary = rc & 0xff;
    return primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT || primary == SQLITE_FORMAT;
}


std::string utc_stamp() {
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%S", &tm);
    return buf;
}

bool exists_nofollow(const fs::path& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0;
}

// Renames `db` and its -wal/-shm to `<db>.<kind>-<stamp>[.N]`, returns the new name of the main file.
Result<fs::path> move_aside(const fs::path& db, const std::string& kind) {
    const std::string base = db.string() + "." + kind + "-" + utc_stamp();
    std::string target = base;
    for (int n = 2; exists_nofollow(target) || exists_nofollow(target + "-wal"); ++n) target = base + "." + std::to_string(n);
    for (const char* suffix : {"-wal", "-shm", ""}) {
        const std::string from = db.string() + suffix;
        const std::string to = target + suffix;
        if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
            return fail("cannot move aside " + from + " to " + to + ": " + errno_text(errno));
        }
    }
    return fs::path(target);
}

class Stmt {
public:
    Stmt() = default;
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    ~Stmt() { finalize(); }
    void finalize() {
        sqlite3_finalize(s_);
        s_ = nullptr;
    }
    int prepare(sqlite3* db, const char* sql) { return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr); }
    [[nodiscard]] sqlite3_stmt* get() const { return s_; }

private:
    sqlite3_stmt* s_ = nullptr;
};

// One use of a cached statement: binds, steps, and resets it on scope exit so it holds no read
// transaction open and keeps no pointer to the caller's strings.
class Use {
public:
    explicit Use(const Stmt& s) : s_(s.get()) {}
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;
    ~Use() {
        sqlite3_reset(s_);
        sqlite3_clear_bindings(s_);
    }
    Use& bind(int i, int64_t v) {
        sqlite3_bind_int64(s_, i, v);
        return *this;
    }
    Use& bind(int i, const std::optional<int64_t>& v) {
        if (v) sqlite3_bind_int64(s_, i, *v);
        else sqlite3_bind_null(s_, i);
        return *this;
    }
    Use& bind(int i, const std::string& v) {
        sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
        return *this;
    }
    int step() { return sqlite3_step(s_); }
    [[nodiscard]] sqlite3_stmt* get() const { return s_; }

private:
    sqlite3_stmt* s_;
};

std::optional<int64_t> col_opt(sqlite3_stmt* s, int i) {
    if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
    return sqlite3_column_int64(s, i);
}

std::string col_text(sqlite3_stmt* s, int i) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

// Reads one row of kStateColumns into `out` (keyed by task); the same task may come on several
// rows, one per outcome total.
void read_state_row(sqlite3_stmt* s, std::map<std::string, TaskState>& out) {
    std::string task = col_text(s, 0);
    auto [it, inserted] = out.try_emplace(task);
    TaskState& st = it->second;
    if (inserted) {
        st.task = std::move(task);
        st.last_start_us = col_opt(s, 1);
        st.last_end_us = col_opt(s, 2);
        st.last_success_us = col_opt(s, 3);
        st.last_outcome = col_text(s, 4);
        st.last_message = col_text(s, 5);
        st.last_duration_ms = sqlite3_column_int64(s, 6);
        st.consecutive_failures = sqlite3_column_int64(s, 7);
        st.crash_streak = sqlite3_column_int64(s, 8);
        st.retries_used = sqlite3_column_int64(s, 9);
        st.quarantined_until_us = col_opt(s, 10);
        st.plugin_identity = col_text(s, 11);
    }
    if (sqlite3_column_type(s, 12) != SQLITE_NULL) st.runs_by_outcome[col_text(s, 12)] = sqlite3_column_int64(s, 13);
}

RunRecord read_record(sqlite3_stmt* s) {
    RunRecord r;
    r.run_id = col_text(s, 0);
    r.task = col_text(s, 1);
    r.start_us = sqlite3_column_int64(s, 2);
    r.end_us = sqlite3_column_int64(s, 3);
    r.outcome = col_text(s, 4);
    r.message = col_text(s, 5);
    r.duration_ms = sqlite3_column_int64(s, 6);
    return r;
}

}  // namespace

struct StateStore::Impl {
    sqlite3* db = nullptr;
    fs::path path;
    pid_t owner = ::getpid();

    Stmt begin, commit, rollback;
    Stmt upsert_state, insert_history, bump_total, trim_history, clear_history;
    Stmt select_all, select_one, history_task, history_all, reset_task;

    Impl() = default;
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    ~Impl() { close(); }

    void close() {
        if (!db) return;
        if (::getpid() != owner) {
            // A forked child: the connection belongs to the parent. Touching it here (finalize,
            // checkpoint on close) could disturb the parent's WAL; just drop it.
            db = nullptr;
            return;
        }
        for (Stmt* s : {&begin, &commit, &rollback, &upsert_state, &insert_history, &bump_total, &trim_history,
                        &clear_history, &select_all, &select_one, &history_task, &history_all, &reset_task}) {
            s->finalize();
        }
        sqlite3_close_v2(db);
        db = nullptr;
    }

    Error error(const std::string& what, int rc) const { return Error{"state database " + path.string() + ": " + what + ": " + db_reason(db, rc)}; }

    Result<void> run(const Stmt& s, const std::string& what) {
        Use u(s);
        const int rc = u.step();
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) return std::unexpected(error(what, rc));
        return {};
    }

    // BEGIN IMMEDIATE, body, COMMIT; any failure rolls back, so the old state stays.
    template <class F>
    Result<void> transaction(const std::string& what, F&& body) {
        if (auto r = run(begin, what); !r) return r;
        Result<void> r = body();
        if (r) r = run(commit, what);
        if (!r && !sqlite3_get_autocommit(db)) {
            Use u(rollback);
            u.step();
        }
        return r;
    }

    int prepare_all() {
        const std::string select = std::string("SELECT ") + kStateColumns +
                                   " FROM task_state s LEFT JOIN task_totals t ON t.task = s.task";
        const std::pair<Stmt*, std::string> all[] = {
            {&begin, "BEGIN IMMEDIATE"},
            {&commit, "COMMIT"},
            {&rollback, "ROLLBACK"},
            {&upsert_state,
             "INSERT INTO task_state (task, last_start_us, last_end_us, last_success_us, last_outcome, last_message, "
             "last_duration_ms, consecutive_failures, crash_streak, retries_used, quarantined_until_us, plugin_identity) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) ON CONFLICT (task) DO UPDATE SET "
             "last_start_us = excluded.last_start_us, last_end_us = excluded.last_end_us, "
             "last_success_us = excluded.last_success_us, last_outcome = excluded.last_outcome, "
             "last_message = excluded.last_message, last_duration_ms = excluded.last_duration_ms, "
             "consecutive_failures = excluded.consecutive_failures, crash_streak = excluded.crash_streak, "
             "retries_used = excluded.retries_used, quarantined_until_us = excluded.quarantined_until_us, "
             "plugin_identity = excluded.plugin_identity"},
            {&insert_history,
             "INSERT INTO history (run_id, task, start_us, end_us, outcome, message, duration_ms) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
            {&bump_total,
             "INSERT INTO task_totals (task, outcome, count) VALUES (?1, ?2, 1) "
             "ON CONFLICT (task, outcome) DO UPDATE SET count = count + 1"},
            // Deletes what is older than the limit-th newest row: walks at most `limit` index
            // entries, and normally deletes the single row that fell off the end.
            {&trim_history,
             "DELETE FROM history WHERE task = ?1 AND (start_us, id) < "
             "(SELECT start_us, id FROM history WHERE task = ?1 ORDER BY start_us DESC, id DESC LIMIT 1 OFFSET ?2 - 1)"},
            {&clear_history, "DELETE FROM history WHERE task = ?1"},
            {&select_all, select + " ORDER BY s.task"},
            {&select_one, select + " WHERE s.task = ?1"},
            {&history_task,
             "SELECT run_id, task, start_us, end_us, outcome, message, duration_ms FROM history WHERE task = ?1 "
             "ORDER BY start_us DESC, id DESC LIMIT ?2"},
            {&history_all,
             "SELECT run_id, task, start_us, end_us, outcome, message, duration_ms FROM history "
             "ORDER BY start_us DESC, id DESC LIMIT ?1"},
            {&reset_task,
             "UPDATE task_state SET consecutive_failures = 0, crash_streak = 0, retries_used = 0, "
             "quarantined_until_us = NULL WHERE task = ?1"},
        };
        for (const auto& [stmt, sql] : all) {
            if (const int rc = stmt->prepare(db, sql.c_str()); rc != SQLITE_OK) return rc;
        }
        return SQLITE_OK;
    }
};

namespace {

using Impl = StateStore::Impl;

// Outcome of one attempt to open the database file.
struct Attempt {
    enum Kind { ok, bad_file, unusable } kind = ok;
    std::string reason;       // bad_file: why the file is rejected
    std::string aside_kind;   // bad_file: "bad" or "newer"
    Error error;              // unusable
};

Attempt bad(std::string reason, std::string kind = "bad") {
    Attempt a;
    a.kind = Attempt::bad_file;
    a.reason = std::move(reason);
    a.aside_kind = std::move(kind);
    return a;
}

Attempt unusable(Error e) {
    Attempt a;
    a.kind = Attempt::unusable;
    a.error = std::move(e);
    return a;
}

// Runs one statement without parameters, handing each first-column value to `row`.
template <class F>
int query(sqlite3* db, const char* sql, F&& row) {
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, nullptr);
    if (rc != SQLITE_OK) return rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) row(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int exec(sqlite3* db, const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr); }

// Opens, validates and, for a new file, initialises the database into `impl`.
Attempt try_open(Impl& impl) {
    const std::string file = impl.path.string();
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    int rc = sqlite3_open_v2(file.c_str(), &impl.db, flags, nullptr);
    if (rc != SQLITE_OK) {
        // SQLite retries read-only after EROFS/EACCES and reports that retry's errno (often
        // ENOENT); ask the directory itself for the real reason.
        const std::string dir = impl.path.parent_path().string();
        if (::faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0) {
            return unusable(Error{"state database " + file + ": cannot create it: directory " + dir + ": " + errno_text(errno)});
        }
        return unusable(impl.error("cannot open", rc));
    }
    sqlite3_extended_result_codes(impl.db, 1);
    sqlite3_busy_timeout(impl.db, kBusyTimeoutMs);
    // A small page cache: the host runs every minute and should stay a few MiB; the default
    // (2 MiB) would be filled by quick_check on every start. Pages are read once per run anyway.
    exec(impl.db, "PRAGMA cache_size = -256");
    // Until the file is known good, closing it must not checkpoint: a rejected database keeps its
    // WAL for whoever looks into it later.
    sqlite3_db_config(impl.db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    if (sqlite3_db_readonly(impl.db, "main") == 1) {
        const std::string why = ::faccessat(AT_FDCWD, file.c_str(), W_OK, AT_EACCESS) != 0 ? errno_text(errno)
                                                                                        : "read-only file or file system";
        return unusable(Error{"state database " + file + ": can only be opened read-only: " + why});
    }

    int64_t version = 0;
    rc = query(impl.db, "PRAGMA user_version", [&](sqlite3_stmt* s) { version = sqlite3_column_int64(s, 0); });
    if (file_is_bad(rc)) return bad(db_reason(impl.db, rc));
    if (rc != SQLITE_OK) return unusable(impl.error("cannot read", rc));
    if (version > kSchemaVersion) {
        return bad("schema version " + std::to_string(version) + " is newer than this program's " +
                       std::to_string(kSchemaVersion),
                   "newer");
    }
    if (version < 0) return bad("invalid schema version " + std::to_string(version));

    std::string check;
    rc = query(impl.db, "PRAGMA quick_check(1)", [&](sqlite3_stmt* s) { check = col_text(s, 0); });
    if (file_is_bad(rc)) return bad("quick_check failed: " + db_reason(impl.db, rc));
    if (rc != SQLITE_OK) return unusable(impl.error("cannot check", rc));
    if (check != "ok") {
        for (auto& c : check) {
            if (c == '\n') c = ' ';  // one journal line
        }
        return bad("quick_check: " + check);
    }

    if (version == 0) {
        int64_t objects = 0;
        rc = query(impl.db, "SELECT count(*) FROM sqlite_schema", [&](sqlite3_stmt* s) { objects = sqlite3_column_int64(s, 0); });
        if (file_is_bad(rc)) return bad(db_reason(impl.db, rc));
        if (rc != SQLITE_OK) return unusable(impl.error("cannot read", rc));
        if (objects > 0) return bad("not a housebrain-periodic state database (schema version 0 with tables in it)");
    }

    std::string mode;
    rc = query(impl.db, "PRAGMA journal_mode = WAL", [&](sqlite3_stmt* s) { mode = col_text(s, 0); });
    if (file_is_bad(rc)) return bad(db_reason(impl.db, rc));
    if (rc != SQLITE_OK) return unusable(impl.error("cannot enable WAL mode", rc));
    if (mode != "wal") return unusable(Error{"state database " + file + ": cannot enable WAL mode (got " + mode + ")"});
    // WAL with synchronous=NORMAL: every commit is atomic, so a kill (or a crash of the host) at any
    // moment leaves the old or the new state; only a power loss may drop the last few commits,
    // never tear one. FULL would add an fsync per task result (measured: 36% of the host's CPU
    // at 500 tasks, see tools/bench/RESULTS.md) for no gain against the faults we face.
    if (rc = exec(impl.db, "PRAGMA synchronous = NORMAL"); rc != SQLITE_OK) return unusable(impl.error("cannot set synchronous", rc));

    if (version == 0) {
        rc = exec(impl.db, "BEGIN IMMEDIATE");
        if (rc == SQLITE_OK) rc = exec(impl.db, kSchema);
        if (rc == SQLITE_OK) rc = exec(impl.db, "COMMIT");
        if (rc != SQLITE_OK) {
            Error e = impl.error("cannot create the schema", rc);
            if (!sqlite3_get_autocommit(impl.db)) exec(impl.db, "ROLLBACK");
            return unusable(std::move(e));
        }
    }

    if (rc = impl.prepare_all(); rc != SQLITE_OK) {
        if ((rc & 0xff) == SQLITE_ERROR || file_is_bad(rc)) return bad("unexpected schema: " + db_reason(impl.db, rc));
        return unusable(impl.error("cannot prepare statements", rc));
    }
    sqlite3_db_config(impl.db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, nullptr);
    return {};
}

}  // namespace

Result<StateStore> StateStore::open(const fs::path& dir, std::vector<std::string>& warnings) {
    if (auto r = make_private_dirs(dir); !r) return std::unexpected(r.error());
    auto impl = std::make_unique<Impl>();
    impl->path = dir / kFileName;
    const std::string file = impl->path.string();

    const auto aside = [&](const std::string& kind, const std::string& reason, const char* what = "it") -> Result<void> {
        impl->close();
        auto moved = move_aside(impl->path, kind);
        if (!moved) return std::unexpected(moved.error());
        const std::string shown = moved->string() + (std::string_view(what) == "it" ? "" : "-wal");
        warnings.push_back("state database " + file + " " + reason + "; moved " + what + " to " + shown +
                           " and started a fresh one (task states, totals and history start over)");
        return {};
    };

    // Checks SQLite would not do for us: it takes a zero-length file for a new empty database, and
    // would replay a WAL left behind without its database into a fresh one.
    struct stat st {};
    if (::stat(file.c_str(), &st) == 0) {
        if (!S_ISREG(st.st_mode)) return fail("state database " + file + " is not a regular file");
        if (st.st_size == 0) {
            if (auto r = aside("bad", "was an empty (zero-length) file"); !r) return std::unexpected(r.error());
        }
    } else if (errno != ENOENT) {
        return fail("state database " + file + ": " + errno_text(errno));
    } else if (exists_nofollow(file + "-wal")) {
        if (auto r = aside("bad", "was missing but its -wal file was left behind", "the -wal file"); !r) {
            return std::unexpected(r.error());
        }
    }

    for (int attempt = 0; attempt < 2; ++attempt) {
        const bool created = !exists_nofollow(impl->path);
        Attempt a = try_open(*impl);
        if (a.kind == Attempt::ok) return StateStore(std::move(impl));
        if (a.kind == Attempt::unusable) {
            impl->close();
            if (created) {
                // Leave no empty file behind (a full disk): the next run would take it for a
                // damaged one.
                for (const char* suffix : {"-wal", "-shm", ""}) ::unlink((file + suffix).c_str());
            }
            return std::unexpected(std::move(a.error));
        }
        const std::string what = a.aside_kind == "newer" ? "has a newer format (" + a.reason + ")"
                                                         : "is damaged (" + a.reason + ")";
        if (auto r = aside(a.aside_kind, what); !r) return std::unexpected(r.error());
    }
    return fail("state database " + file + ": a freshly created database failed its checks");
}

StateStore::StateStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StateStore::StateStore(StateStore&&) noexcept = default;
StateStore& StateStore::operator=(StateStore&&) noexcept = default;
StateStore::~StateStore() = default;

const fs::path& StateStore::path() const { return impl_->path; }

Result<std::map<std::string, TaskState>> StateStore::load_all() {
    std::map<std::string, TaskState> out;
    Use u(impl_->select_all);
    int rc;
    while ((rc = u.step()) == SQLITE_ROW) read_state_row(u.get(), out);
    if (rc != SQLITE_DONE) return std::unexpected(impl_->error("cannot load task states", rc));
    return out;
}

Result<std::optional<TaskState>> StateStore::load(const std::string& task) {
    std::map<std::string, TaskState> out;
    Use u(impl_->select_one);
    u.bind(1, task);
    int rc;
    while ((rc = u.step()) == SQLITE_ROW) read_state_row(u.get(), out);
    if (rc != SQLITE_DONE) return std::unexpected(impl_->error("cannot load the state of task " + task, rc));
    if (out.empty()) return std::optional<TaskState>();
    return std::optional<TaskState>(std::move(out.begin()->second));
}

namespace {

Result<void> write_state(Impl& impl, const TaskState& s) {
    Use u(impl.upsert_state);
    u.bind(1, s.task)
        .bind(2, s.last_start_us)
        .bind(3, s.last_end_us)
        .bind(4, s.last_success_us)
        .bind(5, s.last_outcome)
        .bind(6, s.last_message)
        .bind(7, s.last_duration_ms)
        .bind(8, s.consecutive_failures)
        .bind(9, s.crash_streak)
        .bind(10, s.retries_used)
        .bind(11, s.quarantined_until_us)
        .bind(12, s.plugin_identity);
    if (const int rc = u.step(); rc != SQLITE_DONE) return std::unexpected(impl.error("cannot save the state of task " + s.task, rc));
    return {};
}

}  // namespace

Result<void> StateStore::save_result(const TaskState& state, const RunRecord& record, int64_t history_limit) {
    if (state.task.empty()) return fail("state database " + impl_->path.string() + ": save_result without a task name");
    if (!record.task.empty() && record.task != state.task) {
        return fail("state database " + impl_->path.string() + ": run record of task " + record.task +
                    " saved with the state of task " + state.task);
    }
    Impl& impl = *impl_;
    return impl.transaction("cannot save the result of task " + state.task, [&]() -> Result<void> {
        if (auto r = write_state(impl, state); !r) return r;
        int rc;
        if (!record.run_id.empty() && history_limit > 0) {
            Use u(impl.insert_history);
            u.bind(1, record.run_id)
                .bind(2, state.task)
                .bind(3, record.start_us)
                .bind(4, record.end_us)
                .bind(5, record.outcome)
                .bind(6, record.message)
                .bind(7, record.duration_ms);
            if (rc = u.step(); rc != SQLITE_DONE) return std::unexpected(impl.error("cannot append history of task " + state.task, rc));
        }
        if (!record.outcome.empty()) {
            Use u(impl.bump_total);
            u.bind(1, state.task).bind(2, record.outcome);
            if (rc = u.step(); rc != SQLITE_DONE) return std::unexpected(impl.error("cannot count the run of task " + state.task, rc));
        }
        if (history_limit > 0) {
            Use u(impl.trim_history);
            u.bind(1, state.task).bind(2, history_limit);
            rc = u.step();
        } else {
            Use u(impl.clear_history);
            u.bind(1, state.task);
            rc = u.step();
        }
        if (rc != SQLITE_DONE) return std::unexpected(impl.error("cannot trim history of task " + state.task, rc));
        return {};
    });
}

Result<void> StateStore::save_state(const TaskState& state) {
    if (state.task.empty()) return fail("state database " + impl_->path.string() + ": save_state without a task name");
    Impl& impl = *impl_;
    return impl.transaction("cannot save the state of task " + state.task, [&] { return write_state(impl, state); });
}

Result<std::vector<RunRecord>> StateStore::history(const std::string& task, int64_t limit) {
    std::vector<RunRecord> out;
    if (limit <= 0) return out;
    const Stmt& s = task.empty() ? impl_->history_all : impl_->history_task;
    Use u(s);
    if (task.empty()) {
        u.bind(1, limit);
    } else {
        u.bind(1, task).bind(2, limit);
    }
    int rc;
    while ((rc = u.step()) == SQLITE_ROW) out.push_back(read_record(u.get()));
    if (rc != SQLITE_DONE) return std::unexpected(impl_->error("cannot read history", rc));
    return out;
}

Result<bool> StateStore::reset(const std::string& task) {
    Impl& impl = *impl_;
    bool changed = false;
    auto r = impl.transaction("cannot reset task " + task, [&]() -> Result<void> {
        Use u(impl.reset_task);
        u.bind(1, task);
        if (const int rc = u.step(); rc != SQLITE_DONE) return std::unexpected(impl.error("cannot reset task " + task, rc));
        changed = sqlite3_changes(impl.db) > 0;
        return {};
    });
    if (!r) return std::unexpected(r.error());
    return changed;
}

}  // namespace hb
