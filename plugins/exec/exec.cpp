// exec: runs one command (an argv array, no shell) and turns its exit into the task's outcome.
//
// The command runs in its own process group so that, at the deadline or when the host asks the
// task to stop, the whole command (with anything it started) gets SIGTERM and, after a grace,
// SIGKILL, while this process stays alive to reap it and report. The command's stdout and stderr
// are read here and forwarded line by line to the task's log, so that the last line it wrote to
// stderr can go into the failure message ("exited with status 1: CommandError: ...").
//
// The host delivers SIGTERM to this process at the deadline or on shutdown; its handler makes
// should_stop() true, and the signal interrupts poll(), so the reaction is immediate.
#include <housebrain/plugin.hpp>
#include <hbplugins/fd.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

using hbplugins::errno_text;
using hbplugins::UniqueFd;
using Clock = std::chrono::steady_clock;

constexpr auto kKillGrace = std::chrono::seconds(3);  // below the host's default kill_grace (5 s)
constexpr size_t kMaxLine = 4096;                     // longer lines are split
constexpr size_t kMaxLoggedBytes = 256 * 1024;        // per run; the rest is counted, not logged
constexpr size_t kMaxErrorTail = 300;                 // stderr text quoted in the failure message

struct Settings {
    std::vector<std::string> argv;
    std::optional<std::string> cwd;
    std::vector<std::pair<std::string, std::string>> env;
};

Settings read_settings(const housebrain::Config& cfg) {
    cfg.allow_only({"command", "cwd", "env"});
    Settings s;
    if (cfg.type("command") == HB_CONFIG_STRING)
        throw housebrain::ConfigError(
            "config key 'command' must be an array of strings such as [\"python3\", \"manage.py\", \"clearsessions\"] "
            "(no shell is involved; write [\"sh\", \"-c\", \"...\"] for one)");
    s.argv = cfg.strings("command");
    if (s.argv.empty() || s.argv.front().empty())
        throw housebrain::ConfigError("config key 'command' must name a program to run");
    if (cfg.has("cwd")) {
        s.cwd = cfg.string("cwd");
        if (s.cwd->empty()) throw housebrain::ConfigError("config key 'cwd' must not be empty");
    }
    if (cfg.has("env")) {
        const housebrain::Config env = cfg.table("env");
        for (const auto& name : env.keys()) {
            if (name.empty() || name.find_first_of("=.") != std::string::npos)
                throw housebrain::ConfigError("config key 'env' holds an invalid variable name '" + name + "'");
            if (env.type(name) != HB_CONFIG_STRING)
                throw housebrain::ConfigError("config key '" + env.path(name) + "' must be a string");
            s.env.emplace_back(name, env.string(name));
        }
    }
    return s;
}

// The command as a shell would need it typed, for log lines: echo 'a b' 'it'\''s'.
std::string shown_command(const std::vector<std::string>& argv) {
    std::string s;
    for (const auto& a : argv) {
        if (!s.empty()) s += ' ';
        const bool plain = !a.empty() && a.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                             "0123456789_@%+=:,./-") == std::string::npos;
        if (plain) {
            s += a;
            continue;
        }
        s += '\'';
        for (char c : a) s += c == '\'' ? std::string("'\\''") : std::string(1, c);
        s += '\'';
    }
    return s;
}

std::string signal_name(int sig) {
    if (const char* abbrev = ::sigabbrev_np(sig)) return std::string("SIG") + abbrev;
    return "signal " + std::to_string(sig);
}

// Why the child could not exec, sent to the parent over a close-on-exec pipe.
struct ExecFailure {
    int stage;  // 1: chdir, 2: exec
    int err;
};

// Splits a stream into lines and logs them; keeps the tail of stderr for the failure message.
class StreamLog {
public:
    StreamLog(housebrain::Context& ctx, size_t& budget, size_t& dropped, bool keep_tail)
        : ctx_(ctx), budget_(budget), dropped_(dropped), keep_tail_(keep_tail) {}

    void feed(const char* data, size_t len) {
        for (size_t i = 0; i < len; ++i) {
            if (data[i] == '\n') {
                emit();
            } else {
                line_ += data[i];
                if (line_.size() >= kMaxLine) emit();
            }
        }
    }
    void finish() {
        if (!line_.empty()) emit();
    }
    [[nodiscard]] const std::string& tail() const { return tail_; }

private:
    void emit() {
        if (!line_.empty() && line_.back() == '\r') line_.pop_back();
        if (keep_tail_ && line_.find_first_not_of(" \t") != std::string::npos) tail_ = line_.substr(0, kMaxErrorTail);
        if (line_.size() + 1 <= budget_) {
            ctx_.info(line_);
            budget_ -= line_.size() + 1;
        } else {
            dropped_ += line_.size() + 1;
        }
        line_.clear();
    }

    housebrain::Context& ctx_;
    size_t& budget_;
    size_t& dropped_;
    bool keep_tail_;
    std::string line_, tail_;
};

class Exec {
public:
    hb_status run(housebrain::Context& ctx) {
        const Settings s = read_settings(ctx.config());
        const std::string shown = shown_command(s.argv);

        int out[2], err[2], report[2];
        if (::pipe2(out, O_CLOEXEC) != 0) throw housebrain::TaskError("pipe: " + errno_text(errno));
        UniqueFd out_r(out[0]), out_w(out[1]);
        if (::pipe2(err, O_CLOEXEC) != 0) throw housebrain::TaskError("pipe: " + errno_text(errno));
        UniqueFd err_r(err[0]), err_w(err[1]);
        if (::pipe2(report, O_CLOEXEC) != 0) throw housebrain::TaskError("pipe: " + errno_text(errno));
        UniqueFd report_r(report[0]), report_w(report[1]);

        // Everything the child needs is built before fork().
        std::vector<char*> argv;
        for (const auto& a : s.argv) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        const pid_t parent = ::getpid();

        const pid_t pid = ::fork();
        if (pid < 0) throw housebrain::TaskError("fork: " + errno_text(errno));
        if (pid == 0) become_command(s, argv.data(), parent, out_w.get(), err_w.get(), report_w.get());

        ::setpgid(pid, pid);  // the child does it too; whichever runs first
        out_w.reset();
        err_w.reset();
        report_w.reset();
        for (int fd : {out_r.get(), err_r.get(), report_r.get()}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        // A pidfd makes the child's exit wake poll(); glibc 2.36's <sys/pidfd.h> lacks extern "C".
        UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));

        size_t budget = kMaxLoggedBytes, dropped = 0;
        StreamLog out_log(ctx, budget, dropped, false), err_log(ctx, budget, dropped, true);
        std::optional<ExecFailure> failure;
        std::string report_buf;

        enum class Phase { running, terminating, killed } phase = Phase::running;
        bool timed_out = false;
        Clock::time_point kill_at{};
        int status = 0;
        bool reaped = false;
        std::array<char, 16384> buf{};

        auto drain = [&](UniqueFd& fd, StreamLog* log) {
            while (fd) {
                const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
                if (n > 0) {
                    if (log != nullptr) log->feed(buf.data(), static_cast<size_t>(n));
                    else report_buf.append(buf.data(), static_cast<size_t>(n));
                    continue;
                }
                if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
                fd.reset();  // EOF
            }
        };

        while (!reaped) {
            if (phase == Phase::running && ctx.should_stop()) {
                const int64_t deadline = ctx.deadline_unix_ms();
                timed_out = deadline != 0 && now_unix_ms() >= deadline;
                ctx.info(std::string(timed_out ? "deadline reached" : "asked to stop") + "; sending SIGTERM to " +
                         shown);
                ::kill(-pid, SIGTERM);
                phase = Phase::terminating;
                kill_at = Clock::now() + kKillGrace;
            } else if (phase == Phase::terminating && Clock::now() >= kill_at) {
                ctx.warning(s.argv[0] + " still running " + std::to_string(kKillGrace.count()) +
                            " s after SIGTERM; sending SIGKILL");
                ::kill(-pid, SIGKILL);
                phase = Phase::killed;
            }

            std::array<pollfd, 4> fds{};
            nfds_t n = 0;
            for (int fd : {pidfd.get(), out_r.get(), err_r.get(), report_r.get()})
                if (fd >= 0) fds[n++] = pollfd{fd, POLLIN, 0};
            int wait_ms = pidfd ? 250 : 20;  // without a pidfd, poll waitpid() more often
            if (phase == Phase::terminating) {
                const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(kill_at - Clock::now()).count();
                wait_ms = static_cast<int>(std::clamp<long long>(left + 1, 0, wait_ms));
            }
            if (::poll(fds.data(), n, wait_ms) < 0 && errno != EINTR)
                throw housebrain::TaskError("poll: " + errno_text(errno));

            drain(out_r, &out_log);
            drain(err_r, &err_log);
            drain(report_r, nullptr);
            const pid_t r = ::waitpid(pid, &status, WNOHANG);
            if (r == pid) reaped = true;
            else if (r < 0 && errno != EINTR) throw housebrain::TaskError("waitpid: " + errno_text(errno));
        }
        // Whatever is already buffered; never wait for EOF, which a lingering grandchild could hold off.
        drain(out_r, &out_log);
        drain(err_r, &err_log);
        drain(report_r, nullptr);
        out_log.finish();
        err_log.finish();
        if (dropped > 0) ctx.warning("output truncated: " + std::to_string(dropped) + " more bytes were not logged");
        if (phase != Phase::running) ::kill(-pid, SIGKILL);  // anything the command left behind in its group
        if (report_buf.size() >= sizeof(ExecFailure)) {
            ExecFailure f{};
            std::memcpy(&f, report_buf.data(), sizeof f);
            failure = f;
        }

        if (failure) {
            if (failure->stage == 1)
                ctx.set_error("cannot change to directory '" + s.cwd.value_or("") + "' (config key 'cwd'): " +
                              errno_text(failure->err));
            else if (failure->err == ENOENT && s.argv[0].find('/') == std::string::npos)
                ctx.set_error("cannot run '" + s.argv[0] + "': command not found in PATH (" + path_for(s) + ")");
            else
                ctx.set_error("cannot run '" + s.argv[0] + "': " + errno_text(failure->err));
            return HB_STATUS_FAILED;
        }
        if (phase != Phase::running) {
            // CANCELLED either way: the host tells a deadline (outcome "timed-out") from a shutdown.
            const std::string how = std::string(phase == Phase::killed ? "SIGKILL" : "SIGTERM");
            ctx.set_error(std::string(timed_out ? "deadline reached" : "stopped on request") + "; '" + s.argv[0] +
                          "' was stopped with " + how);
            return HB_STATUS_CANCELLED;
        }
        const std::string& tail = err_log.tail();
        if (WIFSIGNALED(status)) {
            ctx.set_error("killed by signal " + signal_name(WTERMSIG(status)) +
                          (WCOREDUMP(status) ? " (core dumped)" : "") + (tail.empty() ? "" : ": " + tail));
            return HB_STATUS_FAILED;
        }
        const int code = WEXITSTATUS(status);
        if (code != 0) {
            ctx.set_error("exited with status " + std::to_string(code) + (tail.empty() ? "" : ": " + tail));
            return HB_STATUS_FAILED;
        }
        ctx.debug(shown + " exited with status 0");
        return HB_STATUS_OK;
    }

private:
    // In the forked child: becomes the leader of a new process group and execs the command.
    [[noreturn]] static void become_command(const Settings& s, char* const* argv, pid_t parent, int out_w, int err_w,
                                            int report_w) {
        ::setpgid(0, 0);
        // If this plugin process dies abruptly (SIGKILL from the host), the command goes with it.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);

        // A fresh start for signals: default dispositions (exec keeps ignored ones), nothing blocked.
        struct sigaction dfl{};
        dfl.sa_handler = SIG_DFL;
        for (int sig : {SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2}) ::sigaction(sig, &dfl, nullptr);
        sigset_t none;
        ::sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);

        const int devnull = ::open("/dev/null", O_RDONLY);
        if (devnull < 0 || ::dup2(devnull, 0) < 0 || ::dup2(out_w, 1) < 0 || ::dup2(err_w, 2) < 0) ::_exit(127);
        if (devnull > 2) ::close(devnull);

        auto fail = [&](int stage) {
            const ExecFailure f{stage, errno};
            [[maybe_unused]] const ssize_t n = ::write(report_w, &f, sizeof f);
            ::_exit(127);
        };
        if (s.cwd && ::chdir(s.cwd->c_str()) != 0) fail(1);
        // This process is single-threaded (the ABI promises so), so setenv() after fork() is safe,
        // and execvp() then searches the PATH the user may have set in `env`.
        for (const auto& [name, value] : s.env) ::setenv(name.c_str(), value.c_str(), 1);
        ::execvp(argv[0], argv);
        fail(2);
        ::_exit(127);
    }

    static std::string path_for(const Settings& s) {
        for (const auto& [name, value] : s.env)
            if (name == "PATH") return "PATH=" + value;
        const char* p = std::getenv("PATH");
        return p != nullptr ? std::string("PATH=") + p : "PATH not set";
    }

    static int64_t now_unix_ms() {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }
};

}  // namespace

HOUSEBRAIN_PLUGIN(Exec, "exec", "1.0.0", "runs a command (argv array, no shell) and reports its exit status", 0,
                  nullptr)
