#include "run_lock.h"

#include "dirs.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace hb {

namespace {


}  // namespace

Result<RunLock::Status> RunLock::try_acquire(const std::filesystem::path& dir, RunLock& out) {
    if (auto r = make_private_dirs(dir); !r) return std::unexpected(r.error());
    const std::filesystem::path file = dir / "housebrain-periodic.lock";
    const int fd = ::open(file.c_str(), O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) return fail("cannot open lock file " + file.string() + ": " + errno_text(errno));
    int rc;
    do {
        rc = ::flock(fd, LOCK_EX | LOCK_NB);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        const int e = errno;
        ::close(fd);
        if (e == EWOULDBLOCK) return Status::busy;
        return fail("cannot lock " + file.string() + ": " + errno_text(e));
    }
    // Informational only (`cat` it to see who runs); a failure to write it changes nothing.
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) == 0) {
        [[maybe_unused]] const auto n = ::pwrite(fd, pid.data(), pid.size(), 0);
    }
    RunLock lock;
    lock.fd_ = fd;
    out = std::move(lock);
    return Status::acquired;
}

RunLock& RunLock::operator=(RunLock&& o) noexcept {
    if (this != &o) {
        close_fd();
        fd_ = o.fd_;
        o.fd_ = -1;
    }
    return *this;
}

RunLock::~RunLock() { close_fd(); }

void RunLock::close_inherited() noexcept { close_fd(); }

void RunLock::close_fd() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

}  // namespace hb
