// The sqlite-maintenance plugin over real SQLite files, including a corrupted one and databases
// other processes hold open and locked.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness.h"

namespace fs = std::filesystem;
using hbtest::Outcome;
using hbtest::run_plugin;
using hbtest::TempDir;
using hbtest::toml_config;

namespace {

// A connection for the test's own use.
class Conn {
public:
    explicit Conn(const fs::path& p) {
        if (sqlite3_open(p.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("open " + p.string());
        sqlite3_busy_timeout(db_, 10000);
    }
    ~Conn() { sqlite3_close_v2(db_); }
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;

    void exec(const std::string& sql) {
        char* err = nullptr;
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
            std::string m = err ? err : "?";
            sqlite3_free(err);
            throw std::runtime_error(sql.substr(0, 60) + ": " + m);
        }
    }
    std::string scalar(const std::string& sql) {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
            throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
        std::string out;
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        return out;
    }

private:
    sqlite3* db_ = nullptr;
};

// A database with `rows` rows of ~200 bytes and an index, in the given journal mode.
void make_db(const fs::path& p, int rows, const std::string& journal_mode = "delete") {
    Conn c(p);
    c.exec("PRAGMA page_size=4096; PRAGMA journal_mode=" + journal_mode + ";");
    c.exec("CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, body TEXT); CREATE INDEX items_name ON items(name);");
    c.exec("BEGIN");
    for (int i = 0; i < rows; ++i)
        c.exec("INSERT INTO items(name, body) VALUES('item-" + std::to_string(i * 7919 % 100003) + "', '" +
               std::string(200, static_cast<char>('a' + i % 26)) + "')");
    c.exec("COMMIT");
}

Outcome run_maint(const std::string& toml) { return run_plugin(HB_TEST_PLUGIN_SQLITE_MAINTENANCE, toml_config(toml)); }

std::string q(const fs::path& p) { return "\"" + p.string() + "\""; }

std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(dir)) v.push_back(e.path().filename().string());
    std::sort(v.begin(), v.end());
    return v;
}

// A process that opens the database, runs `sql`, tells the test it did, and then waits for the
// test to release it (or for `hold_ms`), before running `after_sql` and exiting.
class OtherProcess {
public:
    OtherProcess(const fs::path& db, const std::string& sql, int hold_ms, const std::string& after_sql = "") {
        int ready[2], release[2];
        if (::pipe(ready) != 0 || ::pipe(release) != 0) throw std::runtime_error("pipe");
        pid_ = ::fork();
        if (pid_ == 0) {
            ::close(ready[0]);
            ::close(release[1]);
            int rc = 0;
            try {
                Conn c(db);
                c.exec(sql);
                [[maybe_unused]] auto n = ::write(ready[1], "r", 1);
                pollfd p{release[0], POLLIN, 0};
                ::poll(&p, 1, hold_ms);
                if (!after_sql.empty()) c.exec(after_sql);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "other process: %s\n", e.what());
                rc = 1;
            }
            ::_exit(rc);
        }
        ::close(ready[1]);
        ::close(release[0]);
        release_ = release[1];
        char b = 0;
        if (::read(ready[0], &b, 1) != 1) throw std::runtime_error("the other process did not get going");
        ::close(ready[0]);
    }
    ~OtherProcess() { finish(); }
    OtherProcess(const OtherProcess&) = delete;
    OtherProcess& operator=(const OtherProcess&) = delete;

    // Lets it go on and waits for it; true if it exited 0.
    bool finish() {
        if (pid_ <= 0) return ok_;
        ::close(release_);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        ok_ = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        return ok_;
    }

private:
    pid_t pid_ = -1;
    int release_ = -1;
    bool ok_ = false;
};

}  // namespace

TEST(SqliteMaintenance, HealthyDatabaseDefaultsToQuickCheckAndOptimize) {
    TempDir d;
    make_db(d / "app.sqlite3", 500);
    const auto o = run_maint("database = " + q(d / "app.sqlite3"));
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_EQ(o.plugin_name, "sqlite-maintenance");
    EXPECT_TRUE(o.logged("app.sqlite3: quick_check ok; optimize")) << o;
}

TEST(SqliteMaintenance, CorruptedDatabaseFailsNamingTheProblems) {
    TempDir d;
    const fs::path db = d / "broken.sqlite3";
    make_db(db, 3000);
    const auto size = fs::file_size(db);
    ASSERT_GT(size, 40u * 4096u);
    {
        // Overwrite pages in the middle of the file (not the header or the schema on page 1).
        std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
        const std::string garbage(4 * 4096, '\xA5');
        f.seekp(static_cast<std::streamoff>(size / 2 / 4096 * 4096));
        f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
        ASSERT_TRUE(f.good());
    }
    fs::create_directories(d / "backups");
    for (const char* mode : {"quick", "full"}) {
        const auto o = run_maint("database = " + q(db) + "\nintegrity_check = \"" + mode + "\"\nbackup_dir = " +
                                 q(d / "backups") + "\nvacuum = true");
        EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
        EXPECT_NE(o.error.find("integrity check"), std::string::npos) << o;
        EXPECT_NE(o.error.find("Page "), std::string::npos) << "the problems are not quoted: " << o;
        EXPECT_EQ(o.error.find("\n"), std::string::npos) << "one line, please: " << o;
        EXPECT_NE(o.error.find("nothing else was done"), std::string::npos) << o;
        EXPECT_TRUE(names_in(d / "backups").empty()) << "a corrupt database was backed up";
    }
}

TEST(SqliteMaintenance, NotADatabaseFails) {
    TempDir d;
    hbtest::write_file(d / "notes.sqlite3", std::string(8192, 'n'));
    const auto o = run_maint("database = " + q(d / "notes.sqlite3"));
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_NE(o.error.find("file is not a database"), std::string::npos) << o;
}

TEST(SqliteMaintenance, MissingDatabaseFailsAndIsNotCreated) {
    TempDir d;
    const auto o = run_maint("database = " + q(d / "nope.sqlite3"));
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_EQ(o.error, "cannot open database '" + (d / "nope.sqlite3").string() + "': No such file or directory");
    EXPECT_FALSE(fs::exists(d / "nope.sqlite3"));
}

TEST(SqliteMaintenance, BackupIsACompleteSelfContainedCopy) {
    TempDir d;
    make_db(d / "app.sqlite3", 800, "wal");
    ::chmod((d / "app.sqlite3").c_str(), 0640);
    const auto o = run_maint("database = " + q(d / "app.sqlite3") + "\nbackup_dir = " + q(d / "backups"));
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;

    const auto names = names_in(d / "backups");
    ASSERT_EQ(names.size(), 1u) << "a temporary file was left behind";
    EXPECT_TRUE(std::regex_match(names[0], std::regex(R"(app-\d{8}T\d{6}\.sqlite3)"))) << names[0];
    const fs::path backup = d / "backups" / names[0];
    EXPECT_TRUE(o.logged("backup " + backup.string())) << o;
    EXPECT_EQ(fs::status(d / "backups").permissions(), fs::perms::owner_all) << "backup_dir was created 0700";
    struct stat st{};
    ASSERT_EQ(::stat(backup.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u) << "the backup has the database's permissions";

    Conn c(backup);
    EXPECT_EQ(c.scalar("PRAGMA integrity_check"), "ok");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM items"), "800");
    EXPECT_EQ(c.scalar("PRAGMA journal_mode"), "delete");
}

TEST(SqliteMaintenance, RotationKeepsTheNewestBackupsOfThisDatabaseOnly) {
    TempDir d;
    make_db(d / "app.sqlite3", 50);
    const fs::path b = d / "backups";
    for (int day = 1; day <= 9; ++day) hbtest::write_file(b / ("app-2020010" + std::to_string(day) + "T031500.sqlite3"), "old");
    hbtest::write_file(b / "other-20200101T031500.sqlite3", "another database's backup");
    hbtest::write_file(b / "app-notes.txt", "not a backup");
    hbtest::write_file(b / "app-2020XX01T031500.sqlite3", "not our name");
    const auto o = run_maint("database = " + q(d / "app.sqlite3") + "\nbackup_dir = " + q(b) + "\nkeep_backups = 3");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_TRUE(o.logged("removed 7 old backups")) << o;
    const auto names = names_in(b);
    ASSERT_EQ(names.size(), 6u) << testing::PrintToString(names);
    EXPECT_EQ(names[0], "app-20200108T031500.sqlite3");
    EXPECT_EQ(names[1], "app-20200109T031500.sqlite3");
    EXPECT_EQ(names[2], "app-2020XX01T031500.sqlite3");  // not a name this plugin gives: left alone
    EXPECT_TRUE(std::regex_match(names[3], std::regex(R"(app-\d{8}T\d{6}\.sqlite3)"))) << names[3];  // the new one
    EXPECT_EQ(names[4], "app-notes.txt");
    EXPECT_EQ(names[5], "other-20200101T031500.sqlite3");
}

TEST(SqliteMaintenance, BacksUpWhileOtherProcessesReadAndWrite) {
    TempDir d;
    const fs::path db = d / "busy.sqlite3";
    make_db(db, 2000, "wal");
    // A reader in the middle of a transaction and a writer committing all the time.
    OtherProcess reader(db, "BEGIN; SELECT count(*) FROM items;", 60000, "COMMIT");
    OtherProcess writer(db, "SELECT 1", 0,
                        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<20000) "
                        "INSERT INTO items(name, body) SELECT 'w' || i, hex(randomblob(100)) FROM n");
    const auto o = run_maint("database = " + q(db) + "\nbackup_dir = " + q(d / "backups") +
                             "\nwal_checkpoint = true\nbusy_timeout = \"2s\"");
    EXPECT_TRUE(writer.finish());
    EXPECT_TRUE(reader.finish());
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    const auto names = names_in(d / "backups");
    ASSERT_EQ(names.size(), 1u);
    Conn c(d / "backups" / names[0]);
    EXPECT_EQ(c.scalar("PRAGMA integrity_check"), "ok");
    const int rows = std::stoi(c.scalar("SELECT count(*) FROM items"));
    EXPECT_TRUE(rows == 2000 || rows == 22000) << "the backup is not a consistent snapshot: " << rows << " rows";
}

TEST(SqliteMaintenance, WaitsForAnExclusiveLockHeldByAnotherProcess) {
    TempDir d;
    const fs::path db = d / "locked.sqlite3";
    make_db(db, 100);
    // Holds an exclusive lock (no reader can get in) for a second, then commits a row.
    OtherProcess holder(db, "BEGIN EXCLUSIVE; INSERT INTO items(name) VALUES('during');", 1000, "COMMIT");
    const auto o = run_maint("database = " + q(db) + "\nbackup_dir = " + q(d / "backups") + "\nbusy_timeout = \"30s\"");
    EXPECT_TRUE(holder.finish());
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    const auto names = names_in(d / "backups");
    ASSERT_EQ(names.size(), 1u);
    Conn c(d / "backups" / names[0]);
    EXPECT_EQ(c.scalar("SELECT count(*) FROM items"), "101") << "the backup ran before the lock was released";
}

TEST(SqliteMaintenance, FailsWhenTheLockOutlastsTheBusyTimeout) {
    TempDir d;
    const fs::path db = d / "locked.sqlite3";
    make_db(db, 100);
    OtherProcess holder(db, "BEGIN EXCLUSIVE; INSERT INTO items(name) VALUES('during');", 60000, "ROLLBACK");
    const auto o = run_maint("database = " + q(db) + "\nbusy_timeout = 1");
    EXPECT_TRUE(holder.finish());
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_NE(o.error.find("database is locked"), std::string::npos) << o;
}

TEST(SqliteMaintenance, WalCheckpointTruncatesTheWal) {
    TempDir d;
    const fs::path db = d / "wal.sqlite3";
    make_db(db, 10, "wal");
    Conn keep(db);  // an idle connection keeps the WAL from being removed at close
    keep.exec("PRAGMA wal_autocheckpoint=0");
    keep.exec("INSERT INTO items(name, body) SELECT name, body FROM items");
    keep.exec("INSERT INTO items(name, body) SELECT name, body FROM items");
    const fs::path wal = d / "wal.sqlite3-wal";
    ASSERT_GT(fs::file_size(wal), 0u);
    const auto o = run_maint("database = " + q(db) + "\nwal_checkpoint = true\noptimize = false");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_EQ(fs::file_size(wal), 0u);
    EXPECT_TRUE(o.logged("wal_checkpoint ")) << o;
    EXPECT_FALSE(o.logged("optimize")) << o;
}

TEST(SqliteMaintenance, WalCheckpointOnARollbackJournalDatabaseIsSkipped) {
    TempDir d;
    make_db(d / "db.sqlite3", 10);
    const auto o = run_maint("database = " + q(d / "db.sqlite3") + "\nwal_checkpoint = true");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_TRUE(o.logged("wal_checkpoint skipped (not in WAL mode)")) << o;
}

TEST(SqliteMaintenance, VacuumShrinksTheFile) {
    TempDir d;
    const fs::path db = d / "db.sqlite3";
    make_db(db, 3000);
    {
        Conn c(db);
        c.exec("DELETE FROM items WHERE id > 100");
    }
    const auto before = fs::file_size(db);
    const auto o = run_maint("database = " + q(db) + "\nvacuum = true\nintegrity_check = \"full\"");
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_LT(fs::file_size(db), before / 4);
    EXPECT_TRUE(o.logged("integrity_check ok; vacuum ")) << o;
    Conn c(db);
    EXPECT_EQ(c.scalar("SELECT count(*) FROM items"), "100");
}

TEST(SqliteMaintenance, ReadOnlyStepsWorkOnAReadOnlyDatabaseFile) {
    TempDir d;
    make_db(d / "db.sqlite3", 10);
    ::chmod((d / "db.sqlite3").c_str(), 0444);
    const auto o = run_maint("database = " + q(d / "db.sqlite3") + "\noptimize = false\nbackup_dir = " + q(d / "b"));
    ASSERT_EQ(o.status, HB_STATUS_OK) << o;
    EXPECT_EQ(names_in(d / "b").size(), 1u);
}

struct BadConfig {
    std::string toml;
    std::string expected;
    friend void PrintTo(const BadConfig& b, std::ostream* os) { *os << "config expecting '" << b.expected << "'"; }
};

class SqliteMaintenanceBadConfig : public testing::TestWithParam<BadConfig> {};

TEST_P(SqliteMaintenanceBadConfig, FailsNamingTheKey) {
    TempDir d;
    make_db(d / "db.sqlite3", 1);
    std::string toml = GetParam().toml;
    if (const auto pos = toml.find("@DB@"); pos != std::string::npos) toml.replace(pos, 4, (d / "db.sqlite3").string());
    const auto o = run_maint(toml);
    EXPECT_EQ(o.status, HB_STATUS_FAILED) << o;
    EXPECT_NE(o.error.find(GetParam().expected), std::string::npos) << "expected '" << GetParam().expected << "'\n" << o;
}

INSTANTIATE_TEST_SUITE_P(
    SqliteMaintenance, SqliteMaintenanceBadConfig,
    testing::Values(
        BadConfig{"vacuum = true", "missing config key 'database'"},
        BadConfig{"database = \"db.sqlite3\"", "'database' must be an absolute path"},
        BadConfig{"database = \"@DB@\"\nintegrity_check = \"fast\"",
                  "config key 'integrity_check' must be \"quick\", \"full\" or \"none\""},
        BadConfig{"database = \"@DB@\"\nintegrity_check = true", "config key 'integrity_check' must be a string"},
        BadConfig{"database = \"@DB@\"\nvacuum = \"yes\"", "config key 'vacuum' must be a boolean"},
        BadConfig{"database = \"@DB@\"\nkeep_backups = 3", "config key 'keep_backups' needs 'backup_dir'"},
        BadConfig{"database = \"@DB@\"\nbackup_dir = \"/tmp\"\nkeep_backups = 0", "'keep_backups' must be at least 1"},
        BadConfig{"database = \"@DB@\"\nbusy_timeout = \"soon\"", "config key 'busy_timeout'"},
        BadConfig{"database = \"@DB@\"\nbackup = true", "unknown config key 'backup'"}));
