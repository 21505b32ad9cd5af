// Every shipped plugin run through the real binary: `housebrain-periodic --config <manifest>
// --run-task <task>` exits 0 when the task succeeded and 1 otherwise, with the outcome on stderr.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "harness.h"

namespace fs = std::filesystem;
using hbtest::HostSandbox;

namespace {

std::string q(const fs::path& p) { return "\"" + p.string() + "\""; }

void sql(const fs::path& db, const std::string& statements) {
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(h, statements.c_str(), nullptr, nullptr, &err);
    const std::string msg = err ? err : "";
    sqlite3_free(err);
    sqlite3_close(h);
    ASSERT_EQ(rc, SQLITE_OK) << msg;
}

bool alive(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return false;
    const auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

}  // namespace

TEST(HostEndToEnd, Heartbeat) {
    HostSandbox sb;
    sb.write_manifest("[[task]]\nname = \"beat\"\nplugin = \"heartbeat\"\n[task.config]\npath = " +
                      q(sb.data() / "heartbeat") + "\n");
    const auto r = sb.run_task("beat");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    ASSERT_TRUE(fs::exists(sb.data() / "heartbeat")) << r.err;
    EXPECT_TRUE(std::regex_match(hbtest::read_file(sb.data() / "heartbeat"),
                                 std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \d+\n)")));
}

TEST(HostEndToEnd, ExecSuccessAndFailure) {
    HostSandbox sb;
    sb.write_manifest("[[task]]\nname = \"good\"\nplugin = \"exec\"\n[task.config]\ncommand = [\"touch\", " +
                      q(sb.data() / "touched") +
                      "]\n\n[[task]]\nname = \"bad\"\nplugin = \"exec\"\n[task.config]\n"
                      "command = [\"sh\", \"-c\", \"echo boom >&2; exit 4\"]\n");
    auto r = sb.run_task("good");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(fs::exists(sb.data() / "touched"));
    r = sb.run_task("bad");
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("task 'bad' failed: exited with status 4: boom"), std::string::npos) << r.err;
}

TEST(HostEndToEnd, ExecCommandIsStoppedAtTheTaskDeadline) {
    HostSandbox sb;
    const fs::path pid_file = sb.data() / "pid";
    sb.write_manifest("[[task]]\nname = \"slow\"\nplugin = \"exec\"\ntimeout = \"1s\"\n[task.config]\n"
                      "command = [\"sh\", \"-c\", \"echo $$ > " + pid_file.string() + "; exec sleep 60\"]\n");
    const auto r = sb.run_task("slow");
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("task 'slow' timed-out: deadline reached; 'sh' was stopped with SIGTERM"), std::string::npos)
        << r.err;
    ASSERT_TRUE(fs::exists(pid_file)) << r.err;
    const pid_t pid = static_cast<pid_t>(std::stol(hbtest::read_file(pid_file)));
    for (int i = 0; i < 500 && alive(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_FALSE(alive(pid)) << "the command outlived its task";
}

TEST(HostEndToEnd, Retention) {
    HostSandbox sb;
    const fs::path dir = sb.data() / "logs";
    for (const char* name : {"a.log", "b.log", "keep.txt"}) {
        hbtest::write_file(dir / name, "x");
        hbtest::set_age(dir / name, 40 * 86400);
    }
    hbtest::write_file(dir / "new.log", "x");
    sb.write_manifest("[[task]]\nname = \"prune\"\nplugin = \"retention\"\n[task.config]\ndirectory = " + q(dir) +
                      "\npatterns = [\"*.log\"]\nmax_age = \"30d\"\n");
    const auto r = sb.run_task("prune");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(fs::exists(dir / "a.log"));
    EXPECT_FALSE(fs::exists(dir / "b.log"));
    EXPECT_TRUE(fs::exists(dir / "keep.txt"));
    EXPECT_TRUE(fs::exists(dir / "new.log"));
}

TEST(HostEndToEnd, SqliteMaintenanceBacksUpAHealthyDatabaseAndFailsOnACorruptOne) {
    HostSandbox sb;
    const fs::path good = sb.data() / "good.sqlite3";
    const fs::path bad = sb.data() / "bad.sqlite3";
    for (const auto& db : {good, bad}) {
        sql(db, "PRAGMA page_size=4096; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<5000) "
                "INSERT INTO t(v) SELECT hex(randomblob(60)) FROM n;");
    }
    {
        std::fstream f(bad, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(fs::file_size(bad) / 2 / 4096 * 4096));
        const std::string garbage(3 * 4096, '\x5A');
        f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
    }
    const auto task = [&](const std::string& name, const fs::path& db) {
        return "[[task]]\nname = \"" + name + "\"\nplugin = \"sqlite-maintenance\"\n[task.config]\ndatabase = " + q(db) +
               "\nbackup_dir = " + q(sb.data() / "backups") + "\n\n";
    };
    sb.write_manifest(task("good-db", good) + task("bad-db", bad));

    auto r = sb.run_task("good-db");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    size_t backups = 0;
    for (const auto& e : fs::directory_iterator(sb.data() / "backups")) {
        EXPECT_TRUE(std::regex_match(e.path().filename().string(), std::regex(R"(good-\d{8}T\d{6}\.sqlite3)")));
        ++backups;
    }
    EXPECT_EQ(backups, 1u);

    r = sb.run_task("bad-db");
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("task 'bad-db' failed: integrity check (quick_check) found"), std::string::npos) << r.err;
}

TEST(HostEndToEnd, DiskSpace) {
    HostSandbox sb;
    sb.write_manifest("[[task]]\nname = \"roomy\"\nplugin = \"disk-space\"\n[task.config]\npaths = [" + q(sb.data()) +
                      "]\nmin_free = 1\n\n[[task]]\nname = \"greedy\"\nplugin = \"disk-space\"\n[task.config]\n"
                      "paths = [" + q(sb.data()) + "]\nmin_free = \"100%\"\n");
    auto r = sb.run_task("roomy");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    r = sb.run_task("greedy");
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("task 'greedy' failed: " + sb.data().string() + ": "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("below 100%"), std::string::npos) << r.err;
}

TEST(HostEndToEnd, BadConfigFailsTheTaskNamingTheKey) {
    HostSandbox sb;
    sb.write_manifest("[[task]]\nname = \"typo\"\nplugin = \"retention\"\n[task.config]\ndirectory = " + q(sb.data()) +
                      "\nmax_age = \"1d\"\nrecursiv = true\n");
    const auto r = sb.run_task("typo");
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("task 'typo' failed: unknown config key 'recursiv'"), std::string::npos) << r.err;
}
