// hbplugins/fd.hpp: an owning file descriptor and errno text, for the shipped plugins.
#ifndef HBPLUGINS_FD_HPP
#define HBPLUGINS_FD_HPP

#include <unistd.h>

#include <cstring>
#include <string>
#include <utility>

namespace hbplugins {

// Closes its descriptor on destruction. -1 means none.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) reset(std::exchange(other.fd_, -1));
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    [[nodiscard]] int get() const { return fd_; }
    [[nodiscard]] explicit operator bool() const { return fd_ >= 0; }
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

// strerror() as a std::string (the shipped plugins are single-threaded, as the ABI promises).
inline std::string errno_text(int err) { return std::strerror(err); }

}  // namespace hbplugins

#endif  // HBPLUGINS_FD_HPP
