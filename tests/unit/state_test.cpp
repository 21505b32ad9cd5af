// StateStore against real SQLite files in temporary directories, including damaged files, a
// read-only and a full file system (tmpfs mounts in a private mount namespace) and SIGKILL during
// writes. sqlite3.h is used here only as an independent inspector of the files the store writes.
#include "state.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <system_error>
#include <thread>

namespace fs = std::filesystem;
using hb::RunRecord;
using hb::StateStore;
using hb::TaskState;

namespace {

std::string errno_text(int e) { return std::error_code(e, std::generic_category()).message(); }

class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/hb-state-test-XXXXXX";
        const char* p = ::mkdtemp(tmpl);
        if (!p) throw std::runtime_error("mkdtemp: " + errno_text(errno));
        path_ = p;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    [[nodiscard]] const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

// Mounting needs CAP_SYS_ADMIN; doing it in a private mount namespace of this test process keeps
// the mounts invisible to the machine and makes them vanish with the process.
std::string private_mount_namespace() {
    static const std::string why = []() -> std::string {
        if (::unshare(CLONE_NEWNS) != 0) return "unshare(CLONE_NEWNS) not permitted: " + errno_text(errno);
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
            return "cannot make / private in the new mount namespace: " + errno_text(errno);
        }
        return {};
    }();
    return why;
}

class TmpfsMount {
public:
    // Empty `error()` when mounted.
    TmpfsMount(const fs::path& dir, const std::string& options, unsigned long flags = 0) : dir_(dir) {
        fs::create_directories(dir);
        error_ = private_mount_namespace();
        if (!error_.empty()) return;
        if (::mount("tmpfs", dir.c_str(), "tmpfs", flags, options.c_str()) != 0) {
            error_ = "mount -t tmpfs -o " + options + " " + dir.string() + ": " + errno_text(errno);
            return;
        }
        mounted_ = true;
    }
    TmpfsMount(const TmpfsMount&) = delete;
    TmpfsMount& operator=(const TmpfsMount&) = delete;
    ~TmpfsMount() {
        if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
    }
    [[nodiscard]] const std::string& error() const { return error_; }
    bool remount_read_only() { return ::mount(nullptr, dir_.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr) == 0; }

private:
    fs::path dir_;
    std::string error_;
    bool mounted_ = false;
};

// A small independent reader of the database files.
class Db {
public:
    explicit Db(const fs::path& file) { ::sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr); }
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;
    ~Db() { ::sqlite3_close_v2(db_); }
    // First column of the first row, "" when none; "ERROR: ..." on failure.
    std::string scalar(const std::string& sql) {
        sqlite3_stmt* s = nullptr;
        if (::sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) return std::string("ERROR: ") + ::sqlite3_errmsg(db_);
        std::string out;
        int rc;
        bool first = true;
        while ((rc = ::sqlite3_step(s)) == SQLITE_ROW) {
            if (first && ::sqlite3_column_text(s, 0)) out = reinterpret_cast<const char*>(::sqlite3_column_text(s, 0));
            first = false;
        }
        if (rc != SQLITE_DONE) out = std::string("ERROR: ") + ::sqlite3_errmsg(db_);
        ::sqlite3_finalize(s);
        return out;
    }
    int exec(const std::string& sql) { return ::sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr); }
    sqlite3* get() { return db_; }

private:
    sqlite3* db_ = nullptr;
};

TaskState make_state(const std::string& task, int64_t v) {
    TaskState s;
    s.task = task;
    s.last_start_us = 1'700'000'000'000'000 + v * 60'000'000;
    s.last_end_us = *s.last_start_us + 1500 + v;
    if (v % 3 != 0) s.last_success_us = *s.last_end_us;
    s.last_outcome = v % 3 == 0 ? "failed" : "ok";
    s.last_message = "version " + std::to_string(v) + " of " + task;
    s.last_duration_ms = v * 7;
    s.consecutive_failures = v;
    s.crash_streak = v * 2;
    s.retries_used = v % 5;
    if (v % 2 == 0) s.quarantined_until_us = *s.last_end_us + 3'600'000'000;
    s.plugin_identity = "8:" + std::to_string(1000 + v) + ":4096:" + std::to_string(v);
    return s;
}

RunRecord make_record(const TaskState& s, int64_t v) {
    RunRecord r;
    r.run_id = "run-" + std::to_string(v);
    r.task = s.task;
    r.start_us = *s.last_start_us;
    r.end_us = *s.last_end_us;
    r.outcome = s.last_outcome;
    r.message = s.last_message;
    r.duration_ms = s.last_duration_ms;
    return r;
}

// Every stored field except the totals (which the store owns).
void expect_same_state(const TaskState& a, const TaskState& b) {
    EXPECT_EQ(a.task, b.task);
    EXPECT_EQ(a.last_start_us, b.last_start_us);
    EXPECT_EQ(a.last_end_us, b.last_end_us);
    EXPECT_EQ(a.last_success_us, b.last_success_us);
    EXPECT_EQ(a.last_outcome, b.last_outcome);
    EXPECT_EQ(a.last_message, b.last_message);
    EXPECT_EQ(a.last_duration_ms, b.last_duration_ms);
    EXPECT_EQ(a.consecutive_failures, b.consecutive_failures);
    EXPECT_EQ(a.crash_streak, b.crash_streak);
    EXPECT_EQ(a.retries_used, b.retries_used);
    EXPECT_EQ(a.quarantined_until_us, b.quarantined_until_us);
    EXPECT_EQ(a.plugin_identity, b.plugin_identity);
}

StateStore open_ok(const fs::path& dir, std::vector<std::string>& warnings) {
    auto s = StateStore::open(dir, warnings);
    if (!s) throw std::runtime_error("open failed: " + s.error().message);
    return std::move(*s);
}

StateStore open_ok(const fs::path& dir) {
    std::vector<std::string> warnings;
    auto s = open_ok(dir, warnings);
    EXPECT_TRUE(warnings.empty()) << warnings.front();
    return s;
}

void write_file(const fs::path& p, const std::string& content) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f << content;
}

std::string read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Names in `dir` starting with `prefix`.
std::vector<std::string> files_starting(const fs::path& dir, const std::string& prefix) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        const std::string n = e.path().filename().string();
        if (n.starts_with(prefix)) out.push_back(n);
    }
    std::sort(out.begin(), out.end());
    return out;
}

// A fresh store in `dir` must work after a move-aside: empty, writable, readable.
void expect_fresh_store_works(const fs::path& dir) {
    auto store = open_ok(dir);
    auto all = store.load_all();
    ASSERT_TRUE(all) << all.error().message;
    EXPECT_TRUE(all->empty());
    const TaskState s = make_state("after", 1);
    ASSERT_TRUE(store.save_result(s, make_record(s, 1), 10));
    auto back = store.load("after");
    ASSERT_TRUE(back && *back);
    expect_same_state(**back, s);
    Db db(dir / "state.sqlite3");
    EXPECT_EQ(db.scalar("PRAGMA integrity_check"), "ok");
}

// Fills a database with enough rows to span many pages, then closes it (checkpointing the WAL
// into the main file).
void fill_database(const fs::path& dir) {
    auto store = open_ok(dir);
    for (int t = 0; t < 100; ++t) {
        for (int v = 1; v <= 2; ++v) {
            TaskState s = make_state("task-" + std::to_string(t), v);
            s.last_message += std::string(600, 'x');
            ASSERT_TRUE(store.save_result(s, make_record(s, v), 100));
        }
    }
}

// Moves aside: exactly one warning naming the file and the new name, which exists.
void expect_moved_aside(const fs::path& dir, const std::vector<std::string>& warnings, const std::string& kind,
                        const std::string& reason_part) {
    ASSERT_EQ(warnings.size(), 1u);
    const std::string& w = warnings.front();
    EXPECT_NE(w.find((dir / "state.sqlite3").string()), std::string::npos) << w;
    EXPECT_NE(w.find(reason_part), std::string::npos) << w;
    const auto moved = files_starting(dir, "state.sqlite3." + kind + "-");
    ASSERT_FALSE(moved.empty()) << "no state.sqlite3." << kind << "-* in " << dir;
    EXPECT_NE(w.find((dir / moved.front()).string()), std::string::npos) << w;
    // state.sqlite3.<kind>-YYYYmmddTHHMMSS
    const std::string stamp = moved.front().substr(std::string("state.sqlite3." + kind + "-").size(), 15);
    ASSERT_EQ(stamp.size(), 15u);
    EXPECT_EQ(stamp[8], 'T');
    for (size_t i = 0; i < stamp.size(); ++i) {
        if (i != 8) {
            EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(stamp[i]))) << moved.front();
        }
    }
}

}  // namespace

TEST(StateStore, RoundTripOfStatesAndHistory) {
    TempDir tmp;
    TaskState a = make_state("alpha", 4);
    a.last_message = "it's \"quoted\"\nsecond line, ünïcödé, and a NUL:" + std::string(1, '\0') + "end";
    const TaskState b = make_state("beta", 3);  // no last_success_us, no quarantine
    ASSERT_FALSE(b.last_success_us);
    ASSERT_FALSE(b.quarantined_until_us);
    {
        auto store = open_ok(tmp.path());
        ASSERT_TRUE(store.save_result(a, make_record(a, 4), 100));
        ASSERT_TRUE(store.save_result(b, make_record(b, 3), 100));
        auto la = store.load("alpha");
        ASSERT_TRUE(la && *la) << (la ? "no state" : la.error().message);
        expect_same_state(**la, a);
        auto missing = store.load("gamma");
        ASSERT_TRUE(missing);
        EXPECT_FALSE(*missing);
    }
    auto store = open_ok(tmp.path());  // survives closing and reopening
    auto all = store.load_all();
    ASSERT_TRUE(all) << all.error().message;
    ASSERT_EQ(all->size(), 2u);
    expect_same_state(all->at("alpha"), a);
    expect_same_state(all->at("beta"), b);

    auto h = store.history("alpha", 10);
    ASSERT_TRUE(h) << h.error().message;
    ASSERT_EQ(h->size(), 1u);
    const RunRecord r = make_record(a, 4);
    EXPECT_EQ((*h)[0].run_id, r.run_id);
    EXPECT_EQ((*h)[0].task, "alpha");
    EXPECT_EQ((*h)[0].start_us, r.start_us);
    EXPECT_EQ((*h)[0].end_us, r.end_us);
    EXPECT_EQ((*h)[0].outcome, r.outcome);
    EXPECT_EQ((*h)[0].message, a.last_message);
    EXPECT_EQ((*h)[0].duration_ms, r.duration_ms);
}

TEST(StateStore, FileIsWalWithSchemaVersionOne) {
    TempDir tmp;
    const fs::path dir = tmp.path() / "a" / "b";
    const mode_t old_umask = ::umask(022);
    { auto store = open_ok(dir); }
    ::umask(old_umask);
    struct stat st {};
    ASSERT_EQ(::stat(dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0750u);
    ASSERT_EQ(::stat((tmp.path() / "a").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0750u);
    Db db(dir / "state.sqlite3");
    EXPECT_EQ(db.scalar("PRAGMA journal_mode"), "wal");
    EXPECT_EQ(db.scalar("PRAGMA user_version"), "1");
    EXPECT_EQ(db.scalar("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'history' "
                        "AND sql LIKE '%(task, start_us)%'"),
              "history_task_start");
}

TEST(StateStore, SaveStateKeepsHistoryAndTotals) {
    TempDir tmp;
    auto store = open_ok(tmp.path());
    const TaskState s1 = make_state("t", 1);
    ASSERT_TRUE(store.save_result(s1, make_record(s1, 1), 100));
    TaskState s2 = make_state("t", 2);
    s2.runs_by_outcome = {{"ok", 1000}};  // ignored: the store owns the totals
    ASSERT_TRUE(store.save_state(s2));
    auto back = store.load("t");
    ASSERT_TRUE(back && *back);
    expect_same_state(**back, s2);
    EXPECT_EQ((**back).runs_by_outcome, (std::map<std::string, int64_t>{{"ok", 1}}));
    auto h = store.history("t", 10);
    ASSERT_TRUE(h);
    ASSERT_EQ(h->size(), 1u);
    EXPECT_EQ((*h)[0].run_id, "run-1");
    // save_state of a task never seen creates it, with no totals.
    ASSERT_TRUE(store.save_state(make_state("new", 5)));
    auto n = store.load("new");
    ASSERT_TRUE(n && *n);
    expect_same_state(**n, make_state("new", 5));
    EXPECT_TRUE((**n).runs_by_outcome.empty());
}

TEST(StateStore, HistoryIsTrimmedPerTaskToTheNewest) {
    TempDir tmp;
    auto store = open_ok(tmp.path());
    for (int v = 1; v <= 7; ++v) {
        const TaskState s = make_state("a", v);
        ASSERT_TRUE(store.save_result(s, make_record(s, v), 3));
    }
    for (int v = 1; v <= 2; ++v) {
        const TaskState s = make_state("b", v);
        ASSERT_TRUE(store.save_result(s, make_record(s, v), 3));
    }
    auto ha = store.history("a", 100);
    ASSERT_TRUE(ha);
    ASSERT_EQ(ha->size(), 3u);
    EXPECT_EQ((*ha)[0].run_id, "run-7");
    EXPECT_EQ((*ha)[1].run_id, "run-6");
    EXPECT_EQ((*ha)[2].run_id, "run-5");

    auto all = store.history("", 100);
    ASSERT_TRUE(all);
    ASSERT_EQ(all->size(), 5u);
    for (size_t i = 1; i < all->size(); ++i) EXPECT_GE((*all)[i - 1].start_us, (*all)[i].start_us);
    auto limited = store.history("", 2);
    ASSERT_TRUE(limited);
    EXPECT_EQ(limited->size(), 2u);

    // A record older than all kept ones is the one that falls off.
    TaskState old = make_state("a", 0);
    ASSERT_TRUE(store.save_result(old, make_record(old, 0), 3));
    ha = store.history("a", 100);
    ASSERT_TRUE(ha);
    ASSERT_EQ(ha->size(), 3u);
    EXPECT_EQ((*ha)[2].run_id, "run-5");

    // A larger limit keeps more from then on; a limit of 0 keeps none; other tasks untouched.
    for (int v = 8; v <= 12; ++v) {
        const TaskState s = make_state("a", v);
        ASSERT_TRUE(store.save_result(s, make_record(s, v), 6));
    }
    ha = store.history("a", 100);
    ASSERT_TRUE(ha);
    EXPECT_EQ(ha->size(), 6u);
    const TaskState s13 = make_state("a", 13);
    ASSERT_TRUE(store.save_result(s13, make_record(s13, 13), 0));
    ha = store.history("a", 100);
    ASSERT_TRUE(ha);
    EXPECT_TRUE(ha->empty());
    auto hb = store.history("b", 100);
    ASSERT_TRUE(hb);
    EXPECT_EQ(hb->size(), 2u);
}

TEST(StateStore, TotalsCountEveryOutcome) {
    TempDir tmp;
    auto store = open_ok(tmp.path());
    const char* outcomes[] = {"ok", "failed", "ok", "crashed", "ok", "timeout", "failed"};
    int v = 0;
    for (const char* o : outcomes) {
        TaskState s = make_state("t", ++v);
        RunRecord r = make_record(s, v);
        r.outcome = o;
        ASSERT_TRUE(store.save_result(s, r, 2));  // trimming history does not touch totals
    }
    // A record without run_id counts but leaves no history; one without outcome counts nothing.
    TaskState s = make_state("t", ++v);
    RunRecord r;
    r.outcome = "skipped";
    ASSERT_TRUE(store.save_result(s, r, 2));
    ASSERT_TRUE(store.save_result(s, RunRecord{}, 2));
    const std::map<std::string, int64_t> expected{{"ok", 3}, {"failed", 2}, {"crashed", 1}, {"timeout", 1}, {"skipped", 1}};
    auto one = store.load("t");
    ASSERT_TRUE(one && *one);
    EXPECT_EQ((**one).runs_by_outcome, expected);
    auto all = store.load_all();
    ASSERT_TRUE(all);
    EXPECT_EQ(all->at("t").runs_by_outcome, expected);
    auto h = store.history("t", 10);
    ASSERT_TRUE(h);
    ASSERT_EQ(h->size(), 2u);
    EXPECT_EQ((*h)[0].run_id, "run-7");
}

TEST(StateStore, RejectsMismatchedOrMissingTaskName) {
    TempDir tmp;
    auto store = open_ok(tmp.path());
    const TaskState s = make_state("a", 1);
    RunRecord r = make_record(s, 1);
    r.task = "b";
    auto res = store.save_result(s, r, 10);
    ASSERT_FALSE(res);
    EXPECT_NE(res.error().message.find("b"), std::string::npos) << res.error().message;
    TaskState unnamed = make_state("", 1);
    EXPECT_FALSE(store.save_result(unnamed, RunRecord{}, 10));
    EXPECT_FALSE(store.save_state(unnamed));
    auto all = store.load_all();
    ASSERT_TRUE(all);
    EXPECT_TRUE(all->empty());
}

TEST(StateStore, ResetForgetsStreaksAndQuarantineOnly) {
    TempDir tmp;
    auto store = open_ok(tmp.path());
    const TaskState s = make_state("t", 4);  // streaks, retries and quarantine all set
    ASSERT_TRUE(s.quarantined_until_us && s.crash_streak && s.consecutive_failures && s.retries_used);
    ASSERT_TRUE(store.save_result(s, make_record(s, 4), 10));
    auto r = store.reset("t");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(*r);
    auto back = store.load("t");
    ASSERT_TRUE(back && *back);
    TaskState expected = s;
    expected.consecutive_failures = 0;
    expected.crash_streak = 0;
    expected.retries_used = 0;
    expected.quarantined_until_us.reset();
    expect_same_state(**back, expected);
    EXPECT_EQ((**back).runs_by_outcome.size(), 1u);
    auto h = store.history("t", 10);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->size(), 1u);

    auto unknown = store.reset("nobody");
    ASSERT_TRUE(unknown);
    EXPECT_FALSE(*unknown);
    auto all = store.load_all();
    ASSERT_TRUE(all);
    EXPECT_EQ(all->size(), 1u);
}

TEST(StateStore, LoadAllWithManyTasks) {
    TempDir tmp;
    constexpr int kTasks = 500;
    {
        auto store = open_ok(tmp.path());
        for (int v = 1; v <= 2; ++v) {
            for (int t = 0; t < kTasks; ++t) {
                const TaskState s = make_state("task-" + std::to_string(t), v * 1000 + t);
                RunRecord r = make_record(s, v * 1000 + t);
                r.outcome = v == 2 ? "failed" : "ok";
                ASSERT_TRUE(store.save_result(s, r, 100));
            }
        }
    }
    auto store = open_ok(tmp.path());
    auto all = store.load_all();
    ASSERT_TRUE(all) << all.error().message;
    ASSERT_EQ(all->size(), static_cast<size_t>(kTasks));
    for (int t = 0; t < kTasks; ++t) {
        const std::string name = "task-" + std::to_string(t);
        ASSERT_TRUE(all->contains(name)) << name;
        const TaskState& got = all->at(name);
        expect_same_state(got, make_state(name, 2000 + t));
        EXPECT_EQ(got.runs_by_outcome, (std::map<std::string, int64_t>{{"ok", 1}, {"failed", 1}})) << name;
    }
    auto h = store.history("", 100000);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->size(), static_cast<size_t>(2 * kTasks));
}

TEST(StateStoreRecovery, ZeroLengthFileIsMovedAside) {
    TempDir tmp;
    write_file(tmp.path() / "state.sqlite3", "");
    std::vector<std::string> warnings;
    { auto store = open_ok(tmp.path(), warnings); }
    expect_moved_aside(tmp.path(), warnings, "bad", "zero-length");
    EXPECT_EQ(fs::file_size(tmp.path() / files_starting(tmp.path(), "state.sqlite3.bad-").front()), 0u);
    expect_fresh_store_works(tmp.path());
}

TEST(StateStoreRecovery, GarbageFileIsMovedAsideUnchanged) {
    TempDir tmp;
    std::string garbage;
    for (int i = 0; i < 300; ++i) garbage += "this is not an SQLite database, line " + std::to_string(i) + "\n";
    write_file(tmp.path() / "state.sqlite3", garbage);
    std::vector<std::string> warnings;
    { auto store = open_ok(tmp.path(), warnings); }
    expect_moved_aside(tmp.path(), warnings, "bad", "damaged");
    EXPECT_EQ(read_file(tmp.path() / files_starting(tmp.path(), "state.sqlite3.bad-").front()), garbage);
    expect_fresh_store_works(tmp.path());
}

TEST(StateStoreRecovery, NewerVersionIsMovedAsideWithItsWal) {
    TempDir tmp;
    const fs::path file = tmp.path() / "state.sqlite3";
    {
        Db db(file);
        ASSERT_EQ(db.exec("PRAGMA journal_mode = WAL; CREATE TABLE future (x TEXT); PRAGMA user_version = 99;"), SQLITE_OK);
        // Keep the row in the WAL only, as a newer program killed mid-run would leave it.
        ASSERT_EQ(::sqlite3_db_config(db.get(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr), SQLITE_OK);
        ASSERT_EQ(db.exec("INSERT INTO future VALUES ('from the future')"), SQLITE_OK);
    }
    ASSERT_TRUE(fs::exists(tmp.path() / "state.sqlite3-wal"));
    std::vector<std::string> warnings;
    { auto store = open_ok(tmp.path(), warnings); }
    expect_moved_aside(tmp.path(), warnings, "newer", "99");
    EXPECT_TRUE(files_starting(tmp.path(), "state.sqlite3.bad-").empty());
    const auto moved = files_starting(tmp.path(), "state.sqlite3.newer-");
    EXPECT_EQ(std::count(moved.begin(), moved.end(), moved.front() + "-wal"), 1) << "the -wal was not moved along";
    {
        Db old(tmp.path() / moved.front());
        EXPECT_EQ(old.scalar("PRAGMA user_version"), "99");
        EXPECT_EQ(old.scalar("SELECT x FROM future"), "from the future");
    }
    expect_fresh_store_works(tmp.path());
}

TEST(StateStoreRecovery, CorruptPagesAreMovedAside) {
    TempDir tmp;
    fill_database(tmp.path());
    const fs::path file = tmp.path() / "state.sqlite3";
    const auto size = fs::file_size(file);
    ASSERT_GT(size, 20u * 4096u);
    {
        // Random bytes over the middle third of the pages.
        std::mt19937 rng(12345);
        std::string junk(size / 3, '\0');
        for (auto& c : junk) c = static_cast<char>(rng());
        std::fstream f(file, std::ios::binary | std::ios::in | std::ios::out);
        f.seekp(static_cast<std::streamoff>(size / 3));
        f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    std::vector<std::string> warnings;
    { auto store = open_ok(tmp.path(), warnings); }
    expect_moved_aside(tmp.path(), warnings, "bad", "damaged");
    expect_fresh_store_works(tmp.path());
}

TEST(StateStoreRecovery, TruncatedDatabaseIsMovedAside) {
    TempDir tmp;
    fill_database(tmp.path());
    const fs::path file = tmp.path() / "state.sqlite3";
    fs::resize_file(file, fs::file_size(file) / 2);
    std::vector<std::string> warnings;
    { auto store = open_ok(tmp.path(), warnings); }
    expect_moved_aside(tmp.path(), warnings, "bad", "damaged");
    expect_fresh_store_works(tmp.path());
}

TEST(StateStoreRecovery, ForeignDatabaseIsMovedAside) {
    TempDir tmp;
    {
        Db db(tmp.path() / "state.sqlite3");
        ASSERT_EQ(db.exec("CREATE TABLE task_state (something_else INTEGER)"), SQLITE_OK);
    }
    std::vector<std::string> warnings;
    { auto store = open_ok(tmp.path(), warnings); }
    expect_moved_aside(tmp.path(), warnings, "bad", "not a housebrain-periodic state database");
    expect_fresh_store_works(tmp.path());
}

TEST(StateStoreRecovery, WalWithoutItsDatabaseIsMovedAside) {
    TempDir tmp;
    fill_database(tmp.path());
    // Make a WAL with content, then lose the main file.
    {
        Db db(tmp.path() / "state.sqlite3");
        ASSERT_EQ(::sqlite3_db_config(db.get(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr), SQLITE_OK);
        ASSERT_EQ(db.exec("UPDATE task_state SET last_message = 'in the wal'"), SQLITE_OK);
    }
    ASSERT_GT(fs::file_size(tmp.path() / "state.sqlite3-wal"), 0u);
    fs::remove(tmp.path() / "state.sqlite3");
    std::vector<std::string> warnings;
    { auto store = open_ok(tmp.path(), warnings); }
    ASSERT_EQ(warnings.size(), 1u);
    const auto moved = files_starting(tmp.path(), "state.sqlite3.bad-");
    const auto wal = std::find_if(moved.begin(), moved.end(), [](const std::string& n) { return n.ends_with("-wal"); });
    ASSERT_NE(wal, moved.end()) << "the -wal was not moved aside";
    EXPECT_NE(warnings[0].find((tmp.path() / *wal).string()), std::string::npos) << warnings[0];
    expect_fresh_store_works(tmp.path());
}

TEST(StateStoreErrors, DirectoryThroughARegularFileIsAnError) {
    TempDir tmp;
    write_file(tmp.path() / "file", "x");
    std::vector<std::string> warnings;
    auto s = StateStore::open(tmp.path() / "file" / "state", warnings);
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find((tmp.path() / "file" / "state").string()), std::string::npos) << s.error().message;
    EXPECT_TRUE(warnings.empty());
}

TEST(StateStoreErrors, ReadOnlyFileSystemIsAnError) {
    TempDir tmp;
    const fs::path ro = tmp.path() / "ro";
    TmpfsMount empty_ro(ro, "size=1m", MS_RDONLY);
    if (!empty_ro.error().empty()) GTEST_SKIP() << "cannot mount a read-only tmpfs: " << empty_ro.error();
    std::vector<std::string> warnings;

    // The directory exists but is read-only: the database cannot be created.
    auto s = StateStore::open(ro, warnings);
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find((ro / "state.sqlite3").string()), std::string::npos) << s.error().message;
    EXPECT_NE(s.error().message.find(errno_text(EROFS)), std::string::npos) << s.error().message;
    // The directory cannot be created.
    s = StateStore::open(ro / "sub", warnings);
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find((ro / "sub").string()), std::string::npos) << s.error().message;
    EXPECT_NE(s.error().message.find(errno_text(EROFS)), std::string::npos) << s.error().message;

    // An existing, healthy database on a file system that became read-only is not moved aside.
    const fs::path rw = tmp.path() / "rw";
    TmpfsMount later_ro(rw, "size=1m");
    ASSERT_TRUE(later_ro.error().empty()) << later_ro.error();
    {
        auto store = open_ok(rw);
        const TaskState st = make_state("t", 1);
        ASSERT_TRUE(store.save_result(st, make_record(st, 1), 10));
    }
    ASSERT_TRUE(later_ro.remount_read_only()) << errno_text(errno);
    s = StateStore::open(rw, warnings);
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find((rw / "state.sqlite3").string()), std::string::npos) << s.error().message;
    EXPECT_NE(s.error().message.find(errno_text(EROFS)), std::string::npos) << s.error().message;
    EXPECT_TRUE(warnings.empty());
    EXPECT_TRUE(files_starting(rw, "state.sqlite3.").empty());
}

TEST(StateStoreErrors, FullDiskKeepsThePreviousState) {
    TempDir tmp;
    const fs::path mnt = tmp.path() / "small";
    TmpfsMount small(mnt, "size=256k");
    if (!small.error().empty()) GTEST_SKIP() << "cannot mount a small tmpfs: " << small.error();
    const fs::path dir = mnt / "state";
    const TaskState before = make_state("t", 1);
    auto store = open_ok(dir);
    ASSERT_TRUE(store.save_result(before, make_record(before, 1), 10));

    // Fill the file system.
    {
        const int fd = ::open((mnt / "filler").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        ASSERT_GE(fd, 0) << errno_text(errno);
        const std::string block(4096, 'f');
        while (::write(fd, block.data(), block.size()) > 0) {
        }
        const int e = errno;
        ::close(fd);
        ASSERT_EQ(e, ENOSPC) << errno_text(e);
    }

    TaskState after = make_state("t", 2);
    after.last_message = std::string(128 * 1024, 'm');
    RunRecord rec = make_record(after, 2);
    auto r = store.save_result(after, rec, 10);
    ASSERT_FALSE(r) << "saving 256 KiB on a full file system succeeded";
    EXPECT_NE(r.error().message.find((dir / "state.sqlite3").string()), std::string::npos) << r.error().message;

    // The failed transaction left the old state, totals and history.
    auto back = store.load("t");
    ASSERT_TRUE(back && *back) << (back ? "no state" : back.error().message);
    expect_same_state(**back, before);
    EXPECT_EQ((**back).runs_by_outcome, (std::map<std::string, int64_t>{{before.last_outcome, 1}}));
    auto h = store.history("t", 10);
    ASSERT_TRUE(h);
    ASSERT_EQ(h->size(), 1u);
    EXPECT_EQ((*h)[0].run_id, "run-1");

    // A new database cannot be created on the full file system, and leaves no empty file behind
    // (which the next run would take for a damaged one).
    std::vector<std::string> warnings;
    auto other = StateStore::open(mnt / "other", warnings);
    ASSERT_FALSE(other);
    EXPECT_NE(other.error().message.find((mnt / "other" / "state.sqlite3").string()), std::string::npos)
        << other.error().message;
    EXPECT_FALSE(fs::exists(mnt / "other" / "state.sqlite3")) << other.error().message;

    // With space again, the same store and a reopened one work and hold the old state.
    fs::remove(mnt / "filler");
    const TaskState third = make_state("t", 3);
    ASSERT_TRUE(store.save_result(third, make_record(third, 3), 10));
    store = open_ok(dir);
    back = store.load("t");
    ASSERT_TRUE(back && *back);
    expect_same_state(**back, third);
    EXPECT_EQ((**back).runs_by_outcome,
              (std::map<std::string, int64_t>{{before.last_outcome, 1}, {third.last_outcome, 1}}));
    ASSERT_NE(before.last_outcome, third.last_outcome);
    Db db(dir / "state.sqlite3");
    EXPECT_EQ(db.scalar("PRAGMA integrity_check"), "ok");
}

// A child saves versions 1, 2, 3, ... round-robin over kTasks tasks, reporting each committed
// version through a pipe, and is SIGKILLed at a random moment. Versions commit in order, so after
// the kill the database must hold, for the highest stored version N: for each task, exactly the
// state, newest history row and totals of its last version <= N; and N must be at least the last
// reported one. Any torn transaction or lost commit breaks that.
TEST(StateStoreCrash, KillDuringWritesLeavesOldOrNewState) {
    TempDir tmp;
    constexpr int64_t kTasks = 4;
    constexpr int64_t kLimit = 5;
    const auto task_of = [](int64_t v) { return "task-" + std::to_string(v % kTasks); };
    const auto outcome_of = [](int64_t v) { return v % 3 == 0 ? std::string("failed") : std::string("ok"); };
    std::mt19937 rng(std::random_device{}());
    int64_t stored_max = 0;

    for (int round = 0; round < 20; ++round) {
        int fds[2];
        ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            // Never outlive the test process (a killed test run must not leave a writer behind).
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() == 1) ::_exit(5);
            ::close(fds[0]);
            std::vector<std::string> w;
            auto s = StateStore::open(tmp.path(), w);
            if (!s || !w.empty()) ::_exit(2);
            for (int64_t v = stored_max + 1;; ++v) {
                TaskState st = make_state(task_of(v), v);
                RunRecord rec = make_record(st, v);
                rec.outcome = outcome_of(v);
                if (!s->save_result(st, rec, kLimit)) ::_exit(3);
                if (::write(fds[1], &v, sizeof v) != sizeof v) ::_exit(4);
            }
        }
        ::close(fds[1]);
        // Wait for a random number of commits, then a random extra moment, then kill.
        const int64_t commits = std::uniform_int_distribution<int64_t>(1, 40)(rng);
        int64_t reported = 0;
        for (int64_t i = 0; i < commits; ++i) {
            if (::read(fds[0], &reported, sizeof reported) != sizeof reported) break;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 3000)(rng)));
        ::kill(pid, SIGKILL);
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        int64_t v = 0;
        while (::read(fds[0], &v, sizeof v) == sizeof v) reported = v;
        ::close(fds[0]);
        ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
            << "child ended by itself with status " << status << " in round " << round;
        ASSERT_GT(reported, stored_max) << "round " << round;

        std::vector<std::string> warnings;
        auto store = open_ok(tmp.path(), warnings);
        ASSERT_TRUE(warnings.empty()) << "round " << round << ": " << warnings.front();
        auto all = store.load_all();
        ASSERT_TRUE(all) << all.error().message;
        int64_t n = 0;
        for (const auto& [name, st] : *all) n = std::max(n, st.consecutive_failures);  // == version
        ASSERT_GE(n, reported) << "a reported commit was lost in round " << round;
        ASSERT_LE(n, reported + 1) << "round " << round;
        ASSERT_EQ(all->size(), static_cast<size_t>(std::min<int64_t>(n, kTasks)));
        for (int64_t k = 0; k < std::min<int64_t>(n, kTasks); ++k) {
            int64_t last = n;
            while (last % kTasks != k) --last;
            const std::string name = task_of(last);
            SCOPED_TRACE("round " + std::to_string(round) + ", " + name + ", version " + std::to_string(last));
            ASSERT_TRUE(all->contains(name));
            expect_same_state(all->at(name), make_state(name, last));
            std::map<std::string, int64_t> totals;
            for (int64_t u = k == 0 ? kTasks : k; u <= n; u += kTasks) ++totals[outcome_of(u)];
            EXPECT_EQ(all->at(name).runs_by_outcome, totals);
            auto h = store.history(name, 100);
            ASSERT_TRUE(h);
            ASSERT_EQ(h->size(), static_cast<size_t>(std::min<int64_t>(kLimit, (n - k) / kTasks + (k == 0 ? 0 : 1))));
            EXPECT_EQ(h->front().run_id, "run-" + std::to_string(last));
        }
        Db db(tmp.path() / "state.sqlite3");
        ASSERT_EQ(db.scalar("PRAGMA integrity_check"), "ok") << "round " << round;
        stored_max = n;
    }
}
