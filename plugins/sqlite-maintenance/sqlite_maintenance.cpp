// sqlite-maintenance: checks, backs up and tidies one SQLite database that other programs keep
// using (a Django, Home Assistant or Nextcloud database on a home server).
//
// Steps, in this order, each optional: integrity check, online backup (with rotation), WAL
// checkpoint, VACUUM, PRAGMA optimize. A failed integrity check stops the run before anything
// else, so a corrupt database is never backed up over good backups nor rewritten by VACUUM.
//
// Other processes may have the database open at any time: a busy timeout makes every statement
// wait for their locks, and the backup (sqlite3_backup_*) copies in steps, retrying on BUSY and
// LOCKED, never holding a lock for long unless other writers keep restarting it.
#include <housebrain/plugin.hpp>
#include <hbplugins/fd.hpp>
#include <hbplugins/units.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using hbplugins::errno_text;
using hbplugins::format_bytes;
using hbplugins::UniqueFd;
using housebrain::ConfigError;
using housebrain::TaskError;

constexpr int kMaxIntegrityRows = 100;  // PRAGMA integrity_check(N): stop after N problems
constexpr size_t kReportedProblems = 5;  // quoted in the failure message

enum class Check { none, quick, full };

struct Settings {
    std::string database;
    Check integrity = Check::quick;
    bool optimize = true;
    bool wal_checkpoint = false;
    bool vacuum = false;
    std::optional<std::string> backup_dir;
    int64_t keep_backups = 7;
    int64_t busy_timeout_ms = 10'000;
};

Settings read_settings(const housebrain::Config& cfg) {
    cfg.allow_only({"database", "integrity_check", "optimize", "wal_checkpoint", "vacuum", "backup_dir", "keep_backups",
                    "busy_timeout"});
    Settings s;
    s.database = cfg.string("database");
    if (s.database.empty() || s.database.front() != '/')
        throw ConfigError("config key 'database' must be an absolute path, not '" + s.database + "'");
    const std::string check = cfg.string_or("integrity_check", "quick");
    if (check == "quick") s.integrity = Check::quick;
    else if (check == "full") s.integrity = Check::full;
    else if (check == "none") s.integrity = Check::none;
    else throw ConfigError("config key 'integrity_check' must be \"quick\", \"full\" or \"none\", not \"" + check + "\"");
    s.optimize = cfg.boolean_or("optimize", true);
    s.wal_checkpoint = cfg.boolean_or("wal_checkpoint", false);
    s.vacuum = cfg.boolean_or("vacuum", false);
    if (cfg.has("backup_dir")) {
        s.backup_dir = cfg.string("backup_dir");
        if (s.backup_dir->empty() || s.backup_dir->front() != '/')
            throw ConfigError("config key 'backup_dir' must be an absolute path, not '" + *s.backup_dir + "'");
    }
    if (cfg.has("keep_backups")) {
        if (!s.backup_dir) throw ConfigError("config key 'keep_backups' needs 'backup_dir'");
        s.keep_backups = cfg.integer("keep_backups");
        if (s.keep_backups < 1) throw ConfigError("config key 'keep_backups' must be at least 1");
    }
    if (cfg.has("busy_timeout")) {
        const int64_t seconds = hbplugins::config_timespan(cfg, "busy_timeout");
        if (seconds > 24 * 3600) throw ConfigError("config key 'busy_timeout' must be at most a day");
        s.busy_timeout_ms = seconds * 1000;
    }
    return s;
}

struct DbCloser {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;

struct StmtFinalizer {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// Opens a connection with the busy timeout set; throws TaskError naming `what` on failure.
Db open_db(const std::string& path, int flags, int64_t busy_timeout_ms, const std::string& what) {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    Db db(raw);
    if (rc != SQLITE_OK)
        throw TaskError("cannot open " + what + " '" + path + "': " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    sqlite3_extended_result_codes(db.get(), 1);
    sqlite3_busy_timeout(db.get(), static_cast<int>(busy_timeout_ms));
    return db;
}

// Runs `sql` and returns every row's columns as text. Throws TaskError prefixed with `what`.
std::vector<std::vector<std::string>> query(sqlite3* db, const std::string& sql, const std::string& what) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK)
        throw TaskError(what + ": " + sqlite3_errmsg(db));
    Stmt stmt(raw);
    std::vector<std::vector<std::string>> rows;
    while (true) {
        const int rc = sqlite3_step(stmt.get());
        if (rc == SQLITE_DONE) break;
        if (rc != SQLITE_ROW) throw TaskError(what + ": " + sqlite3_errmsg(db));
        std::vector<std::string> row;
        for (int i = 0; i < sqlite3_column_count(stmt.get()); ++i) {
            const auto* text = sqlite3_column_text(stmt.get(), i);
            row.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

uint64_t file_size(const std::string& path) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

std::string base_name(const std::string& path) { return path.substr(path.rfind('/') + 1); }

// "app.sqlite3" -> "app"; "data" -> "data"; ".hidden.db" -> ".hidden".
std::string stem(const std::string& name) {
    const auto dot = name.rfind('.');
    return dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
}

// True for "<stem>-YYYYmmddTHHMMSS.sqlite3": the names this plugin gives its backups.
bool is_backup_name(const std::string& name, const std::string& db_stem) {
    static constexpr std::string_view suffix = ".sqlite3";
    const std::string prefix = db_stem + "-";
    if (name.size() != prefix.size() + 15 + suffix.size() || !name.starts_with(prefix) || !name.ends_with(suffix))
        return false;
    const std::string_view stamp = std::string_view(name).substr(prefix.size(), 15);
    for (size_t i = 0; i < stamp.size(); ++i) {
        const bool ok = i == 8 ? stamp[i] == 'T' : (stamp[i] >= '0' && stamp[i] <= '9');
        if (!ok) return false;
    }
    return true;
}

class Maintenance {
public:
    hb_status run(housebrain::Context& ctx) {
        ctx_ = &ctx;
        s_ = read_settings(ctx.config());

        // SQLite's own message for a missing file is only "unable to open database file"; and
        // without SQLITE_OPEN_CREATE it never creates one.
        struct stat st{};
        if (::stat(s_.database.c_str(), &st) != 0)
            throw TaskError("cannot open database '" + s_.database + "': " + errno_text(errno));
        if (!S_ISREG(st.st_mode)) throw TaskError("database '" + s_.database + "' is not a regular file");
        db_mode_ = st.st_mode & 0666;

        const bool writes = s_.optimize || s_.wal_checkpoint || s_.vacuum;
        db_ = open_db(s_.database, writes ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY, s_.busy_timeout_ms,
                      "database");

        if (s_.integrity != Check::none) check_integrity();
        if (s_.backup_dir) {
            if (!backup()) return cancelled();
        }
        if (ctx.should_stop()) return cancelled();
        if (s_.wal_checkpoint) checkpoint();
        if (ctx.should_stop()) return cancelled();
        if (s_.vacuum) vacuum();
        if (s_.optimize) optimize();
        ctx.info(base_name(s_.database) + ": " + join(done_));
        return HB_STATUS_OK;
    }

private:
    void check_integrity() {
        const std::string name = s_.integrity == Check::quick ? "quick_check" : "integrity_check";
        // Not query(): on a badly damaged file SQLite reports some problems as rows and then fails
        // the step with SQLITE_CORRUPT; both are wanted in the message.
        sqlite3_stmt* raw = nullptr;
        const std::string sql = "PRAGMA " + name + "(" + std::to_string(kMaxIntegrityRows) + ")";
        if (sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &raw, nullptr) != SQLITE_OK)
            throw TaskError("integrity check failed: " + std::string(sqlite3_errmsg(db_.get())));
        Stmt stmt(raw);
        std::vector<std::vector<std::string>> rows;
        int rc = SQLITE_OK;
        while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
            // A row may hold several problems, one per line, under a "*** in database main ***"
            // heading.
            const auto* text = sqlite3_column_text(stmt.get(), 0);
            std::string_view rest = text ? reinterpret_cast<const char*>(text) : "";
            while (!rest.empty()) {
                const auto nl = rest.find('\n');
                const std::string_view line = rest.substr(0, nl);
                rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
                if (!line.empty() && !line.starts_with("*** in database ")) rows.push_back({std::string(line)});
            }
        }
        if (rc != SQLITE_DONE) {
            const int primary = rc & 0xff;
            // Locked or busy says nothing about the file: report it as it is.
            if (rows.empty() && primary != SQLITE_CORRUPT && primary != SQLITE_NOTADB)
                throw TaskError("integrity check failed: " + std::string(sqlite3_errmsg(db_.get())));
            rows.push_back({std::string("the check stopped: ") + sqlite3_errmsg(db_.get())});
        }
        if (rows.size() == 1 && !rows[0].empty() && rows[0][0] == "ok") {
            done_.push_back(name + " ok");
            return;
        }
        std::string msg = "integrity check (" + name + ") found " +
                          (rows.size() >= static_cast<size_t>(kMaxIntegrityRows) ? "at least " : "") +
                          std::to_string(rows.size()) + (rows.size() == 1 ? " problem" : " problems");
        for (size_t i = 0; i < rows.size() && i < kReportedProblems; ++i) {
            msg += i == 0 ? ": " : "; ";
            msg += rows[i].empty() ? "" : rows[i][0];
        }
        if (rows.size() > kReportedProblems) msg += "; ...";
        for (const auto& row : rows)
            if (!row.empty()) ctx_->error(name + ": " + row[0]);
        msg += "; nothing else was done";
        throw TaskError(msg);
    }

    // Online backup into <backup_dir>/<stem>-<UTC time>.sqlite3, then rotation. False if stopped.
    bool backup() {
        const std::string& dir = *s_.backup_dir;
        if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
            throw TaskError("cannot create backup directory '" + dir + "': " + errno_text(errno));
        UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!dir_fd) throw TaskError("cannot open backup directory '" + dir + "': " + errno_text(errno));

        const std::string db_stem = stem(base_name(s_.database));
        char stamp[32];
        const std::time_t now = std::time(nullptr);
        std::tm utc{};
        ::gmtime_r(&now, &utc);
        std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &utc);
        const std::string name = db_stem + "-" + stamp + ".sqlite3";
        const std::string final_path = dir + "/" + name;
        // One fixed temporary name: a run killed midway leaves one file that the next run reuses.
        const std::string tmp_path = dir + "/." + db_stem + ".backup-in-progress";
        ::unlink(tmp_path.c_str());

        const auto outcome = copy_to(tmp_path);
        if (outcome != CopyOutcome::done) {
            ::unlink(tmp_path.c_str());
            return false;
        }
        // The backup gets the database's permissions: it holds the same data.
        if (::chmod(tmp_path.c_str(), db_mode_) != 0 || !fsync_path(tmp_path)) {
            const int err = errno;
            ::unlink(tmp_path.c_str());
            throw TaskError("cannot finish backup '" + tmp_path + "': " + errno_text(err));
        }
        if (::rename(tmp_path.c_str(), final_path.c_str()) != 0) {
            const int err = errno;
            ::unlink(tmp_path.c_str());
            throw TaskError("cannot rename backup to '" + final_path + "': " + errno_text(err));
        }
        ::fsync(dir_fd.get());

        const size_t removed = rotate(dir_fd.get(), db_stem);
        std::string what = "backup " + final_path + " (" + format_bytes(file_size(final_path)) + ")";
        if (removed > 0) what += ", removed " + std::to_string(removed) + (removed == 1 ? " old backup" : " old backups");
        done_.push_back(what);
        return true;
    }

    enum class CopyOutcome { done, stopped };

    CopyOutcome copy_to(const std::string& tmp_path) {
        Db dest = open_db(tmp_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, s_.busy_timeout_ms, "backup file");
        sqlite3_backup* backup = sqlite3_backup_init(dest.get(), "main", db_.get(), "main");
        if (backup == nullptr) throw TaskError(std::string("cannot start backup: ") + sqlite3_errmsg(dest.get()));

        // Copy in steps so other connections can write in between. A write by another process
        // restarts the copy; after a few restarts, copy the rest in one step (holding a read
        // lock for that time) so a busy database still gets backed up.
        int pages = 256;
        int restarts = 0;
        int last_remaining = -1;
        using Clock = std::chrono::steady_clock;
        Clock::time_point busy_since{};
        bool busy = false;
        int rc = SQLITE_OK;
        while (true) {
            if (ctx_->should_stop()) {
                sqlite3_backup_finish(backup);
                return CopyOutcome::stopped;
            }
            rc = sqlite3_backup_step(backup, pages);
            if (rc == SQLITE_DONE) break;
            if (rc == SQLITE_OK) {
                busy = false;
                const int remaining = sqlite3_backup_remaining(backup);
                if (last_remaining >= 0 && remaining > last_remaining && ++restarts >= 3 && pages > 0) {
                    ctx_->debug("backup restarted " + std::to_string(restarts) +
                                " times by other writers; copying the rest in one step");
                    pages = -1;
                }
                last_remaining = remaining;
                continue;
            }
            const int primary = rc & 0xff;
            if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
                const auto now = Clock::now();
                if (!busy) busy_since = now, busy = true;
                if (now - busy_since < std::chrono::milliseconds(s_.busy_timeout_ms)) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(50));
                    continue;
                }
            }
            break;
        }
        const int finish = sqlite3_backup_finish(backup);
        if (rc != SQLITE_DONE || finish != SQLITE_OK)
            throw TaskError(std::string("backup failed: ") + sqlite3_errstr(rc != SQLITE_DONE ? rc : finish));
        // A copy of a WAL database is a WAL database; make the backup one self-contained file.
        query(dest.get(), "PRAGMA journal_mode=DELETE", "backup");
        dest.reset();
        return CopyOutcome::done;
    }

    static bool fsync_path(const std::string& path) {
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        return fd && ::fsync(fd.get()) == 0;
    }

    // Keeps the newest keep_backups backups of this database (by the time in their names).
    size_t rotate(int dir_fd, const std::string& db_stem) {
        std::vector<std::string> names;
        {
            UniqueFd dup(::dup(dir_fd));
            DIR* d = dup ? ::fdopendir(dup.get()) : nullptr;
            if (d == nullptr) throw TaskError("cannot list backup directory: " + errno_text(errno));
            dup.release();
            ::rewinddir(d);
            while (const dirent* de = ::readdir(d)) {
                std::string n = de->d_name;
                if (is_backup_name(n, db_stem)) names.push_back(std::move(n));
            }
            ::closedir(d);
        }
        std::ranges::sort(names, std::greater<>());
        size_t removed = 0;
        for (size_t i = static_cast<size_t>(s_.keep_backups); i < names.size(); ++i) {
            struct stat st{};
            if (::fstatat(dir_fd, names[i].c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
            if (::unlinkat(dir_fd, names[i].c_str(), 0) == 0) {
                ++removed;
                ctx_->debug("removed old backup " + names[i]);
            } else {
                ctx_->warning("cannot remove old backup " + names[i] + ": " + errno_text(errno));
            }
        }
        return removed;
    }

    void checkpoint() {
        const auto rows = query(db_.get(), "PRAGMA wal_checkpoint(TRUNCATE)", "wal_checkpoint");
        if (rows.empty() || rows[0].size() < 3) throw TaskError("wal_checkpoint: no result");
        if (rows[0][1] == "-1") {
            done_.push_back("wal_checkpoint skipped (not in WAL mode)");
        } else if (rows[0][0] != "0") {
            ctx_->warning("wal_checkpoint could not finish: other connections were using the WAL (checkpointed " +
                          rows[0][2] + " of " + rows[0][1] + " frames)");
            done_.push_back("wal_checkpoint partial (" + rows[0][2] + " of " + rows[0][1] + " frames)");
        } else {
            done_.push_back("wal_checkpoint " + rows[0][2] + " frames");
        }
    }

    // Pages in use times page size: the database's size whether or not its WAL is checkpointed.
    uint64_t logical_size() {
        const auto count = query(db_.get(), "PRAGMA page_count", "page_count");
        const auto size = query(db_.get(), "PRAGMA page_size", "page_size");
        return std::stoull(count.at(0).at(0)) * std::stoull(size.at(0).at(0));
    }

    void vacuum() {
        const uint64_t before = logical_size();
        query(db_.get(), "VACUUM", "vacuum");
        const uint64_t after = logical_size();
        done_.push_back("vacuum " + format_bytes(before) + " -> " + format_bytes(after));
    }

    void optimize() {
        query(db_.get(), "PRAGMA optimize", "optimize");
        done_.push_back("optimize");
    }

    hb_status cancelled() {
        ctx_->info(base_name(s_.database) + ": stopped early" + (done_.empty() ? "" : " after " + join(done_)));
        ctx_->set_error("stopped before finishing");
        return HB_STATUS_CANCELLED;
    }

    static std::string join(const std::vector<std::string>& parts) {
        std::string s;
        for (const auto& p : parts) s += (s.empty() ? "" : "; ") + p;
        return s.empty() ? "nothing to do" : s;
    }

    housebrain::Context* ctx_ = nullptr;
    Settings s_;
    Db db_;
    mode_t db_mode_ = 0600;
    std::vector<std::string> done_;
};

}  // namespace

HOUSEBRAIN_PLUGIN(Maintenance, "sqlite-maintenance", "1.0.0",
                  "checks, backs up, checkpoints, vacuums and optimizes an SQLite database", 0, nullptr)
