#include "supervisor.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "unique_fd.h"

extern char** environ;

namespace hb {

namespace {

volatile sig_atomic_t g_stop = 0;
int g_wake_fd = -1;  // write end of the self-pipe; -1 in task children

void on_stop_signal(int) {
    g_stop = 1;
    if (g_wake_fd >= 0) {
        const int saved = errno;
        const char b = 1;
        [[maybe_unused]] auto n = ::write(g_wake_fd, &b, 1);
        errno = saved;
    }
}

int g_wake_read = -1;

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

void apply_limit(int resource, const std::optional<uint64_t>& value) {
    if (!value) return;
    struct rlimit rl {};
    rl.rlim_cur = rl.rlim_max = static_cast<rlim_t>(*value);
    ::setrlimit(resource, &rl);
}

// Runs in the forked child: becomes its own process group, arranges descriptors and environment.
[[noreturn]] void become_task(pid_t parent, int channel_w, int control_r, int output_w, const ChildSetup& setup,
                              char** envp, const ChildBody& body) {
    g_wake_fd = -1;
    ::setpgid(0, 0);
    // Die with the host: a task must not outlive a host killed with SIGKILL.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(111);

    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGPIPE, &dfl, nullptr);
    ::sigaction(SIGCHLD, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);

    // Move our descriptors above the target numbers first so dup2 cannot clobber one of them.
    const int ch = ::fcntl(channel_w, F_DUPFD, 10);
    const int ctl = ::fcntl(control_r, F_DUPFD, 10);
    const int out = ::fcntl(output_w, F_DUPFD, 10);
    const int keep = setup.keep_fd >= 0 ? ::fcntl(setup.keep_fd, F_DUPFD, 10) : -1;
    const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (ch < 0 || ctl < 0 || out < 0 || devnull < 0 || (setup.keep_fd >= 0 && keep < 0)) ::_exit(112);
    if (::dup2(devnull, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0 || ::dup2(ch, kChannelFd) < 0 ||
        ::dup2(ctl, kControlFd) < 0 || (keep >= 0 && ::dup2(keep, kKeptFd) < 0))
        ::_exit(113);
    // Everything else the host had open (state database, lock, other pipes) is closed here.
    ::close_range(keep >= 0 ? kKeptFd + 1 : kKeptFd, ~0U, 0);

    // Core dumps are off unless the manifest asks for them.
    apply_limit(RLIMIT_CORE, setup.limits.core_bytes ? setup.limits.core_bytes : std::optional<uint64_t>(0));
    apply_limit(RLIMIT_AS, setup.limits.address_space_bytes);
    apply_limit(RLIMIT_DATA, setup.limits.data_bytes);
    apply_limit(RLIMIT_NOFILE, setup.limits.open_files);
    apply_limit(RLIMIT_CPU, setup.limits.cpu_seconds);
    apply_limit(RLIMIT_NPROC, setup.limits.processes);

    environ = envp;

    const int rc = body();
    ::_exit(rc);
}

// The child's environment as "KEY=value" strings, built before fork() so that the child does not
// allocate for it (clearenv + setenv in the child cost ~12% of a no-op task's child CPU, mostly in
// copy-on-write faults of heap pages). Same result as setenv() in order: a later entry replaces
// an earlier one with the same key; a key setenv() would refuse (empty, or with '=') is left out.
struct ChildEnvironment {
    explicit ChildEnvironment(const std::vector<std::pair<std::string, std::string>>& env) {
        strings.reserve(env.size());
        for (size_t i = 0; i < env.size(); ++i) {
            const std::string& k = env[i].first;
            if (k.empty() || k.find('=') != std::string::npos) continue;
            const bool replaced = std::any_of(env.begin() + static_cast<std::ptrdiff_t>(i) + 1, env.end(),
                                              [&](const auto& later) { return later.first == k; });
            if (!replaced) strings.push_back(k + "=" + env[i].second);
        }
        pointers.reserve(strings.size() + 1);
        for (auto& s : strings) pointers.push_back(s.data());
        pointers.push_back(nullptr);
    }
    std::vector<std::string> strings;
    std::vector<char*> pointers;
};

// Children of this process (we are a subreaper, so orphaned task descendants land here).
std::vector<pid_t> own_children() {
    std::vector<pid_t> out;
    const pid_t me = ::getpid();
    DIR* d = ::opendir("/proc");
    if (d == nullptr) return out;
    while (const dirent* e = ::readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        const std::string path = std::string("/proc/") + e->d_name + "/stat";
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd.valid()) continue;
        char buf[512];
        const ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
        if (n <= 0) continue;
        buf[n] = '\0';
        // Format: pid (comm) state ppid ...; comm may contain spaces and parentheses.
        const char* close = std::strrchr(buf, ')');
        if (close == nullptr) continue;
        char state = 0;
        int ppid = 0;
        if (std::sscanf(close + 1, " %c %d", &state, &ppid) == 2 && ppid == me)
            out.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
    }
    ::closedir(d);
    return out;
}

// Kills and reaps whatever the task left behind: its process group and any descendant that
// escaped it with setsid() and was reparented to us.
void sweep(pid_t pgid) {
    if (pgid > 0) ::kill(-pgid, SIGKILL);
    for (int round = 0; round < 64; ++round) {
        pid_t r = 0;
        while ((r = ::waitpid(-1, nullptr, WNOHANG)) > 0) {
        }
        // No child at all: as a subreaper we inherit every orphaned descendant of the task before
        // the task itself can be reaped, so nothing escaped and the /proc scan (the costliest part
        // of a no-op task's supervision) is not needed.
        if (r < 0 && errno == ECHILD) return;
        const auto kids = own_children();
        if (kids.empty()) return;
        for (pid_t k : kids) {
            ::kill(k, SIGKILL);
            ::kill(-k, SIGKILL);
        }
        for (pid_t k : kids) ::waitpid(k, nullptr, 0);
    }
}

class LineSplitter {
public:
    LineSplitter(ChildEvents& events, uint64_t cap, ChildExit& exit) : events_(events), cap_(cap), exit_(exit) {}

    void feed(std::string_view data) {
        exit_.output_bytes += data.size();
        while (!data.empty()) {
            const auto nl = data.find('\n');
            if (nl == std::string_view::npos) {
                append(data);
                if (pending_.size() >= kMaxLine) flush();
                return;
            }
            append(data.substr(0, nl));
            flush(true);
            data.remove_prefix(nl + 1);
        }
    }
    void finish() {
        if (!pending_.empty() || pending_dropped_ > 0) flush();
    }

private:
    static constexpr size_t kMaxLine = 4096;

    void append(std::string_view s) {
        if (kept_ + pending_.size() + s.size() <= cap_) {
            pending_.append(s);
        } else {
            pending_dropped_ += s.size();
        }
    }
    void flush(bool newline = false) {
        if (!pending_.empty()) {
            kept_ += pending_.size() + (newline ? 1 : 0);
            events_.on_output(pending_);
        } else if (newline) {
            // The newline of a line dropped whole is dropped too, so that kept + dropped is
            // everything the task wrote; an empty line within the cap counts as kept.
            if (pending_dropped_ == 0 && kept_ < cap_) ++kept_;
            else ++exit_.output_dropped;
        }
        exit_.output_dropped += pending_dropped_;
        pending_.clear();
        pending_dropped_ = 0;
    }

    ChildEvents& events_;
    uint64_t cap_;
    ChildExit& exit_;
    std::string pending_;
    uint64_t kept_ = 0;
    uint64_t pending_dropped_ = 0;
};

}  // namespace

void install_supervisor_signals() {
    int p[2];
    if (g_wake_read < 0 && ::pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0) {
        g_wake_read = p[0];
        g_wake_fd = p[1];
    }
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ign, nullptr);
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
}

bool stop_requested() { return g_stop != 0; }

bool write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

char read_control_byte() {
    char b = 0;
    for (;;) {
        const ssize_t n = ::read(kControlFd, &b, 1);
        if (n == 1) return b;
        if (n < 0 && errno == EINTR && !stop_requested()) continue;
        return 0;
    }
}

Result<ChildExit> run_child(const ChildSetup& setup, const ChildBody& body, ChildEvents& events,
                            const SuperviseOptions& options) {
    int chan[2], ctrl[2], out[2];
    if (::pipe2(chan, O_CLOEXEC) != 0) return fail(std::string("pipe: ") + std::strerror(errno));
    UniqueFd chan_r(chan[0]), chan_w(chan[1]);
    if (::pipe2(ctrl, O_CLOEXEC) != 0) return fail(std::string("pipe: ") + std::strerror(errno));
    UniqueFd ctrl_r(ctrl[0]), ctrl_w(ctrl[1]);
    if (::pipe2(out, O_CLOEXEC) != 0) return fail(std::string("pipe: ") + std::strerror(errno));
    UniqueFd out_r(out[0]), out_w(out[1]);

    ChildEnvironment child_env(setup.env);
    // Nothing of the host's may sit in a stdio buffer at fork(): the child flushes stdio after the
    // task's run() and would write the host's pending output into the task's output pipe.
    std::fflush(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return fail(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) become_task(parent, chan_w.get(), ctrl_r.get(), out_w.get(), setup, child_env.pointers.data(), body);

    ::setpgid(pid, pid);  // also done by the child; whichever runs first wins the race
    chan_w.reset();
    ctrl_r.reset();
    out_w.reset();
    set_nonblocking(chan_r.get());
    set_nonblocking(out_r.get());
    // glibc 2.36 declares pidfd_open without C linkage for C++; call it directly.
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));

    ChildExit result;
    protocol::Decoder decoder;
    LineSplitter lines(events, options.output_cap, result);
    enum class Phase { running, terminating, killed } phase = Phase::running;
    SteadyTime deadline = options.deadline;
    SteadyTime phase_deadline{};
    bool reaped = false;
    std::array<char, 65536> buf;

    auto handle_channel = [&](std::string_view bytes) {
        decoder.feed(bytes);
        while (auto m = decoder.next()) {
            if (!*m) {
                result.protocol_error = m->error().message;
                break;
            }
            if (auto reply = events.on_message(**m)) {
                const char b = *reply;
                [[maybe_unused]] bool sent = write_all(ctrl_w.get(), std::string_view(&b, 1));
            }
            if (auto d = events.deadline()) deadline = *d;
        }
    };
    // Reads what is available now; returns false at EOF or error.
    auto pump = [&](UniqueFd& fd, bool channel) {
        for (int i = 0; i < 64 && fd.valid(); ++i) {
            const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
            if (n > 0) {
                if (channel) handle_channel(std::string_view(buf.data(), static_cast<size_t>(n)));
                else lines.feed(std::string_view(buf.data(), static_cast<size_t>(n)));
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
            fd.reset();  // EOF or error
            return;
        }
    };
    auto signal_group = [&](int sig) {
        ::kill(-pid, sig);
        ::kill(pid, sig);
    };
    auto try_reap = [&] {
        int status = 0;
        struct rusage ru {};
        const pid_t r = ::wait4(pid, &status, WNOHANG, &ru);
        if (r != pid) return false;
        reaped = true;
        if (WIFEXITED(status)) {
            result.exited = true;
            result.status = WEXITSTATUS(status);
        } else if (WIFSIGNALED(status)) {
            result.signal = WTERMSIG(status);
        }
        result.cpu_us = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
        return true;
    };

    while (!reaped) {
        const auto now = std::chrono::steady_clock::now();
        if (phase == Phase::running && (stop_requested() || now >= deadline)) {
            if (stop_requested()) result.interrupted = true;
            else result.timed_out = true;
            signal_group(SIGTERM);
            phase = Phase::terminating;
            phase_deadline = now + options.grace;
        } else if (phase == Phase::terminating && now >= phase_deadline) {
            signal_group(SIGKILL);
            phase = Phase::killed;
            phase_deadline = now + std::chrono::seconds(1);
        } else if (phase == Phase::killed && now >= phase_deadline) {
            result.unreaped = true;
            break;
        }
        const SteadyTime next = phase == Phase::running ? deadline : phase_deadline;
        auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1;
        wait_ms = std::clamp<long long>(wait_ms, 0, pidfd.valid() ? 60000 : 50);

        std::array<pollfd, 4> fds{};
        nfds_t n = 0;
        const int idx_chan = chan_r.valid() ? static_cast<int>(n) : -1;
        if (chan_r.valid()) fds[n++] = {chan_r.get(), POLLIN, 0};
        const int idx_out = out_r.valid() ? static_cast<int>(n) : -1;
        if (out_r.valid()) fds[n++] = {out_r.get(), POLLIN, 0};
        const int idx_pid = pidfd.valid() ? static_cast<int>(n) : -1;
        if (pidfd.valid()) fds[n++] = {pidfd.get(), POLLIN, 0};
        const int idx_wake = g_wake_read >= 0 ? static_cast<int>(n) : -1;
        if (g_wake_read >= 0) fds[n++] = {g_wake_read, POLLIN, 0};

        const int pr = ::poll(fds.data(), n, static_cast<int>(wait_ms));
        if (pr < 0 && errno != EINTR) return fail(std::string("poll: ") + std::strerror(errno));
        if (pr > 0) {
            if (idx_wake >= 0 && fds[static_cast<size_t>(idx_wake)].revents) {
                char drain[64];
                while (::read(g_wake_read, drain, sizeof drain) > 0) {
                }
            }
            if (idx_chan >= 0 && fds[static_cast<size_t>(idx_chan)].revents) pump(chan_r, true);
            if (idx_out >= 0 && fds[static_cast<size_t>(idx_out)].revents) pump(out_r, false);
            if (idx_pid >= 0 && fds[static_cast<size_t>(idx_pid)].revents) try_reap();
        }
        if (!pidfd.valid()) try_reap();
    }

    // Collect what the child wrote before it died. Bounded: a descendant that kept the pipe open
    // must not keep the host here, so only what is already buffered is read.
    if (chan_r.valid()) pump(chan_r, true);
    if (out_r.valid()) pump(out_r, false);
    lines.finish();
    if (stop_requested() && !result.timed_out && phase == Phase::running && !result.exited) result.interrupted = true;
    sweep(pid);
    return result;
}

}  // namespace hb
