// Child supervision: the only module that forks, polls, signals and reaps.
//
// A task runs in a forked child that is the leader of its own process group. The host keeps three
// pipes to it: the channel (framed messages, child -> host), the control pipe (one byte, host ->
// child: 'G' run, 'S' skip) and the output pipe (the child's stdout and stderr). The host is a
// child subreaper, so a grandchild that calls setsid() and outlives the task is reparented to the
// host, and killed when the task ends. The host never waits past the deadline plus the kill grace.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "error.h"
#include "manifest.h"
#include "protocol.h"

namespace hb {

using SteadyTime = std::chrono::steady_clock::time_point;

// Installs SIGTERM/SIGINT handlers that request a stop, makes the host a child subreaper, and
// ignores SIGPIPE. Call once at start.
void install_supervisor_signals();
// True once SIGTERM or SIGINT arrived.
bool stop_requested();

// How the child process is set up before `body` runs in it.
struct ChildSetup {
    std::vector<std::pair<std::string, std::string>> env;  // the child's whole environment
    TaskLimits limits;
    int keep_fd = -1;  // a descriptor to keep open in the child (the plugin file); becomes fd 5
};

// In the child: fd 3 is the channel (write), fd 4 the control pipe (read), fd 5 `keep_fd` if set;
// 0 is /dev/null, 1 and 2 the output pipe. The return value is the child's exit status.
using ChildBody = std::function<int()>;
inline constexpr int kChannelFd = 3;
inline constexpr int kControlFd = 4;
inline constexpr int kKeptFd = 5;

class ChildEvents {
public:
    virtual ~ChildEvents() = default;
    // A decoded message. May return a control byte to send to the child.
    virtual std::optional<char> on_message(const protocol::Message& message) = 0;
    // One line of the child's stdout/stderr (without the newline), within the output cap.
    virtual void on_output(std::string_view line) = 0;
    // May move the deadline (called after each message).
    virtual std::optional<SteadyTime> deadline() { return std::nullopt; }
};

struct ChildExit {
    bool exited = false;  // exited normally with `status`
    int status = 0;
    int signal = 0;  // killed by this signal
    bool timed_out = false;
    bool interrupted = false;  // the host was asked to stop meanwhile
    bool unreaped = false;     // did not die even after SIGKILL within the grace (D state)
    std::string protocol_error;
    uint64_t output_bytes = 0;    // everything the child wrote to stdout/stderr
    uint64_t output_dropped = 0;  // beyond the cap: counted, not kept
    int64_t cpu_us = 0;           // user+system CPU of the child
};

struct SuperviseOptions {
    SteadyTime deadline;
    std::chrono::milliseconds grace{5000};
    uint64_t output_cap = 64 * 1024;
};

// Forks the child, runs `body` in it, and supervises it to the end. Error only if the fork or the
// pipes fail.
Result<ChildExit> run_child(const ChildSetup& setup, const ChildBody& body, ChildEvents& events,
                            const SuperviseOptions& options);

// Writes all of `bytes` to fd (used by the child for frames); false on error.
bool write_all(int fd, std::string_view bytes);
// Reads one control byte in the child; 0 on EOF or error.
char read_control_byte();

}  // namespace hb
