// RunLock with real processes: a second host (fork) is refused, a SIGKILLed holder does not block
// the next run, and the descriptor does not leak into exec'd programs.
#include "run_lock.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>
#include <system_error>

namespace fs = std::filesystem;
using hb::RunLock;

namespace {

class LockDir {
public:
    LockDir() {
        char tmpl[] = "/tmp/hb-runlock-test-XXXXXX";
        const char* p = ::mkdtemp(tmpl);
        if (!p) throw std::runtime_error("mkdtemp failed");
        path_ = p;
    }
    LockDir(const LockDir&) = delete;
    LockDir& operator=(const LockDir&) = delete;
    ~LockDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    [[nodiscard]] const fs::path& path() const { return path_; }
    [[nodiscard]] fs::path file() const { return path_ / "housebrain-periodic.lock"; }

private:
    fs::path path_;
};

// What try_acquire says in a fresh process: 0 busy, 1 acquired, 2 error.
int status_in_child(const fs::path& dir) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        RunLock l;
        auto r = RunLock::try_acquire(dir, l);
        ::_exit(!r ? 2 : *r == RunLock::Status::busy ? 0 : 1);
    }
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

std::string contents(const fs::path& p) {
    std::ifstream f(p);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// This process's descriptor open on `file`, or -1.
int fd_of(const fs::path& file) {
    for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        const fs::path target = fs::read_symlink(e.path(), ec);
        if (!ec && target == file) return std::stoi(e.path().filename().string());
    }
    return -1;
}

}  // namespace

TEST(RunLock, SecondInstanceIsBusy) {
    LockDir dir;
    RunLock lock;
    auto r = RunLock::try_acquire(dir.path(), lock);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(*r, RunLock::Status::acquired);
    EXPECT_TRUE(lock.held());
    EXPECT_EQ(contents(dir.file()), std::to_string(::getpid()) + "\n");

    EXPECT_EQ(status_in_child(dir.path()), 0) << "another process got the lock (1) or an error (2)";
    RunLock second;  // a second open of the file in the same process is refused as well
    r = RunLock::try_acquire(dir.path(), second);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, RunLock::Status::busy);
    EXPECT_FALSE(second.held());
}

TEST(RunLock, ReleasedWhenDestroyedAndKeptWhenMoved) {
    LockDir dir;
    {
        RunLock a;
        ASSERT_EQ(RunLock::try_acquire(dir.path(), a).value(), RunLock::Status::acquired);
        RunLock b(std::move(a));
        EXPECT_FALSE(a.held());
        RunLock c;
        c = std::move(b);
        EXPECT_TRUE(c.held());
        EXPECT_EQ(status_in_child(dir.path()), 0);
    }
    EXPECT_EQ(status_in_child(dir.path()), 1);
}

TEST(RunLock, KilledHolderDoesNotBlockTheNextRun) {
    LockDir dir;
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    const pid_t holder = ::fork();
    ASSERT_GE(holder, 0);
    if (holder == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a killed test run
        RunLock l;
        auto r = RunLock::try_acquire(dir.path(), l);
        const char c = r && *r == RunLock::Status::acquired ? 'y' : 'n';
        if (::write(fds[1], &c, 1) != 1) ::_exit(1);
        for (;;) ::pause();
    }
    ::close(fds[1]);
    char c = 0;
    ASSERT_EQ(::read(fds[0], &c, 1), 1);
    ::close(fds[0]);
    EXPECT_EQ(c, 'y');
    EXPECT_EQ(contents(dir.file()), std::to_string(holder) + "\n");

    RunLock lock;
    auto r = RunLock::try_acquire(dir.path(), lock);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, RunLock::Status::busy);

    ASSERT_EQ(::kill(holder, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(holder, &status, 0), holder);
    r = RunLock::try_acquire(dir.path(), lock);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, RunLock::Status::acquired);
    EXPECT_EQ(contents(dir.file()), std::to_string(::getpid()) + "\n");
}

TEST(RunLock, DescriptorIsCloseOnExec) {
    LockDir dir;
    RunLock lock;
    ASSERT_EQ(RunLock::try_acquire(dir.path(), lock).value(), RunLock::Status::acquired);
    const int fd = fd_of(dir.file());
    ASSERT_GE(fd, 0) << "no descriptor of " << dir.file() << " in /proc/self/fd";
    const int flags = ::fcntl(fd, F_GETFD);
    ASSERT_GE(flags, 0);
    EXPECT_TRUE(flags & FD_CLOEXEC);

    // And an exec'd program indeed does not have it.
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        const std::string script = "test ! -e /proc/$$/fd/" + std::to_string(fd);
        ::execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "the exec'd shell has descriptor " << fd;
}

TEST(RunLock, ForkedChildClosingItsCopyKeepsTheLock) {
    LockDir dir;
    RunLock lock;
    ASSERT_EQ(RunLock::try_acquire(dir.path(), lock).value(), RunLock::Status::acquired);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        lock.close_inherited();
        ::_exit(lock.held() ? 1 : 0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_TRUE(lock.held());
    EXPECT_EQ(status_in_child(dir.path()), 0);
}

TEST(RunLock, CreatesTheDirectoryAndReportsUnusableOnes) {
    LockDir dir;
    RunLock lock;
    auto r = RunLock::try_acquire(dir.path() / "new" / "state", lock);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, RunLock::Status::acquired);
    EXPECT_TRUE(fs::exists(dir.path() / "new" / "state" / "housebrain-periodic.lock"));

    std::ofstream(dir.path() / "plain") << "x";
    RunLock other;
    r = RunLock::try_acquire(dir.path() / "plain" / "state", other);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find((dir.path() / "plain" / "state").string()), std::string::npos) << r.error().message;
    EXPECT_FALSE(other.held());
}
