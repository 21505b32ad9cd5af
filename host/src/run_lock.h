// One run at a time: an exclusive flock() on `<state dir>/housebrain-periodic.lock`, opened
// close-on-exec so exec'd programs never inherit it. The kernel drops the lock when the last
// descriptor of it is closed, so a lock left by a killed run never blocks the next one.
//
// A fork()ed child (without exec) shares the locked descriptor: the lock is then only released
// once the host *and* such children are gone. Children may close their copy (close_inherited());
// they must never unlock it (flock(LOCK_UN) would release the host's lock too, and this class
// never does that: release is by close only). The file holds the holder's PID, for humans only.
#pragma once

#include <filesystem>

#include "error.h"

namespace hb {

class RunLock {
public:
    enum class Status { acquired, busy };

    // Tries once, never waits. Creates `dir` (mode 0750) if missing. busy: another instance holds
    // it (the error-free refusal); Error: the lock file could not be opened or locked (names path
    // and reason). On acquired, `out` holds the lock (a lock it held before is released).
    static Result<Status> try_acquire(const std::filesystem::path& dir, RunLock& out);

    RunLock() = default;
    RunLock(RunLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    RunLock& operator=(RunLock&& o) noexcept;
    RunLock(const RunLock&) = delete;
    RunLock& operator=(const RunLock&) = delete;
    ~RunLock();

    [[nodiscard]] bool held() const { return fd_ >= 0; }

    // In a forked child: close this process's copy of the descriptor. The parent keeps the lock.
    void close_inherited() noexcept;

private:
    void close_fd() noexcept;  // releases the lock once no other process shares the descriptor
    int fd_ = -1;
};

}  // namespace hb
