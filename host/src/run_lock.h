// One run at a time: an exclusive flock() on `<state dir>/housebrain-periodic.lock`, opened
// close-on-exec so task processes never inherit it. The kernel drops the lock when the holder
// dies, so a lock left by a killed run never blocks the next one.
#pragma once

#include <filesystem>

#include "error.h"

namespace hb {

class RunLock {
public:
    enum class Status { acquired, busy };

    // Tries once, never waits. busy: another instance holds it (the error-free refusal);
    // Error: the lock file could not be opened (names path and reason).
    static Result<Status> try_acquire(const std::filesystem::path& dir, RunLock& out);

    RunLock() = default;
    RunLock(RunLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    RunLock& operator=(RunLock&& o) noexcept;
    RunLock(const RunLock&) = delete;
    RunLock& operator=(const RunLock&) = delete;
    ~RunLock();

    [[nodiscard]] bool held() const { return fd_ >= 0; }

private:
    int fd_ = -1;
};

}  // namespace hb
