#include "harness.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <toml++/toml.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "host_services.h"

namespace hbtest {

namespace fs = std::filesystem;

int64_t now_unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// ---- Outcome ---------------------------------------------------------------------------------------

bool Outcome::logged(std::string_view needle) const { return count_logged(needle) > 0; }

size_t Outcome::count_logged(std::string_view needle) const {
    size_t n = 0;
    for (const auto& l : logs)
        if (l.text.find(needle) != std::string::npos) ++n;
    return n;
}

std::string Outcome::log_text() const {
    std::string s;
    for (const auto& l : logs) s += "  [" + std::to_string(l.level) + "] " + l.text + "\n";
    return s;
}

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
    os << "plugin '" << o.plugin_name << "' status " << o.status << ", error \"" << o.error << "\"";
    if (!o.harness_failure.empty()) os << ", harness: " << o.harness_failure;
    return os << "\nlog:\n" << o.log_text();
}

// ---- TOML -> ConfigValue -------------------------------------------------------------------------

namespace {

hb::ConfigValue from_node(const toml::node& n) {
    if (const auto* t = n.as_table()) {
        hb::ConfigValue v = hb::ConfigValue::make_table();
        auto& table = *std::get<std::shared_ptr<hb::ConfigTable>>(v.v);
        for (const auto& [key, value] : *t) table.emplace_back(std::string(key.str()), from_node(value));
        return v;
    }
    if (const auto* a = n.as_array()) {
        auto array = std::make_shared<hb::ConfigArray>();
        for (const auto& item : *a) array->push_back(from_node(item));
        return hb::ConfigValue{array};
    }
    if (const auto* s = n.as_string()) return hb::ConfigValue{s->get()};
    if (const auto* i = n.as_integer()) return hb::ConfigValue{static_cast<int64_t>(i->get())};
    if (const auto* d = n.as_floating_point()) return hb::ConfigValue{d->get()};
    if (const auto* b = n.as_boolean()) return hb::ConfigValue{b->get()};
    std::ostringstream text;
    if (const auto* dt = n.as_date_time()) text << *dt;
    else if (const auto* date = n.as_date()) text << *date;
    else if (const auto* time = n.as_time()) text << *time;
    return hb::ConfigValue{hb::ConfigDatetime{text.str()}};
}

}  // namespace

hb::ConfigValue toml_config(std::string_view text) {
    try {
        return from_node(toml::parse(text));
    } catch (const toml::parse_error& e) {
        throw std::runtime_error("bad test config: " + std::string(e.description()));
    }
}

// ---- The run ----------------------------------------------------------------------------------------

namespace {

// Frames on the pipe from the child: one type byte, a 4-byte length, the payload.
enum : char { kLog = 'L', kError = 'E', kStatus = 'S', kName = 'N', kFailure = 'F' };

void write_all(int fd, const void* data, size_t len) {
    const char* p = static_cast<const char*>(data);
    while (len > 0) {
        const ssize_t n = ::write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) ::_exit(90);
        p += n;
        len -= static_cast<size_t>(n);
    }
}

void send(int fd, char type, std::string_view payload) {
    const auto len = static_cast<uint32_t>(payload.size());
    write_all(fd, &type, 1);
    write_all(fd, &len, sizeof len);
    write_all(fd, payload.data(), payload.size());
}

volatile sig_atomic_t g_terminated = 0;

class PipeSink : public hb::ServicesSink {
public:
    PipeSink(int fd, int64_t stop_at_ms) : fd_(fd), stop_at_ms_(stop_at_ms) {}
    void log(int32_t level, std::string_view message) override {
        std::string payload(reinterpret_cast<const char*>(&level), sizeof level);
        payload += message;
        send(fd_, kLog, payload);
    }
    void set_error(std::string_view message) override { send(fd_, kError, message); }
    bool should_stop() override { return g_terminated != 0 || (stop_at_ms_ >= 0 && now_unix_ms() >= stop_at_ms_); }

private:
    int fd_;
    int64_t stop_at_ms_;
};

[[noreturn]] void child_main(int fd, const std::string& so_path, const hb::ConfigValue& config,
                             const RunOptions& options, const std::string& task_dir) {
    // Like the host's task child: its own process group, SIGTERM turns into should_stop().
    ::setpgid(0, 0);
    struct sigaction sa{};
    sa.sa_handler = [](int) { g_terminated = 1; };
    ::sigemptyset(&sa.sa_mask);
    ::sigaction(SIGTERM, &sa, nullptr);

    void* handle = ::dlopen(so_path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        send(fd, kFailure, std::string("dlopen: ") + ::dlerror());
        ::_exit(0);
    }
    auto entry = reinterpret_cast<hb_plugin_entry_fn>(::dlsym(handle, HB_PLUGIN_ENTRY_SYMBOL));
    if (entry == nullptr) {
        send(fd, kFailure, "no entry symbol");
        ::_exit(0);
    }
    uint32_t plugin_version = 0;
    const hb_plugin_descriptor* d = entry(HB_ABI_VERSION, &plugin_version);
    if (d == nullptr || plugin_version != HB_ABI_VERSION || d->run == nullptr) {
        send(fd, kFailure, "plugin declined the ABI or has no run()");
        ::_exit(0);
    }
    send(fd, kName, d->name != nullptr ? d->name : "");

    const int64_t stop_at = options.stop_after_ms >= 0 ? now_unix_ms() + options.stop_after_ms : -1;
    PipeSink sink(fd, stop_at);
    hb::HostServices services(config, "test-task", "test-run", task_dir, options.deadline_unix_ms, sink);
    const hb_status status = d->run(services.table());
    send(fd, kStatus, std::string_view(reinterpret_cast<const char*>(&status), sizeof status));
    ::_exit(0);
}

class Reader {
public:
    explicit Reader(Outcome& out) : out_(out) {}
    void feed(const char* data, size_t len) {
        buf_.append(data, len);
        while (buf_.size() >= 5) {
            uint32_t n = 0;
            std::memcpy(&n, buf_.data() + 1, sizeof n);
            if (buf_.size() < 5 + n) break;
            take(buf_[0], buf_.substr(5, n));
            buf_.erase(0, 5 + n);
        }
    }

private:
    void take(char type, const std::string& p) {
        switch (type) {
            case kLog: {
                LogLine line;
                std::memcpy(&line.level, p.data(), sizeof line.level);
                line.text = p.substr(sizeof line.level);
                out_.logs.push_back(std::move(line));
                break;
            }
            case kError: out_.error = p; break;
            case kStatus: std::memcpy(&out_.status, p.data(), sizeof out_.status); break;
            case kName: out_.plugin_name = p; break;
            case kFailure: out_.harness_failure = p; break;
            default: out_.harness_failure = "bad frame from the child"; break;
        }
    }
    Outcome& out_;
    std::string buf_;
};

}  // namespace

Outcome run_plugin(const std::string& so_path, const hb::ConfigValue& config, const RunOptions& options) {
    Outcome out;
    std::unique_ptr<TempDir> own_task_dir;
    std::string task_dir = options.task_dir;
    if (task_dir.empty()) {
        own_task_dir = std::make_unique<TempDir>();
        task_dir = own_task_dir->path().string();
    }

    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::close(fds[0]);
        child_main(fds[1], so_path, config, options, task_dir);
    }
    ::setpgid(pid, pid);
    ::close(fds[1]);

    Reader reader(out);
    const int64_t started = now_unix_ms();
    constexpr int64_t kHardLimitMs = 120'000;  // a hung plugin fails the test instead of hanging it
    bool termed = false;
    std::array<char, 65536> buf{};
    while (true) {
        const int64_t elapsed = now_unix_ms() - started;
        if (options.sigterm_after_ms >= 0 && !termed && elapsed >= options.sigterm_after_ms) {
            ::kill(-pid, SIGTERM);
            termed = true;
        }
        if (elapsed >= kHardLimitMs) {
            ::kill(-pid, SIGKILL);
            out.harness_failure = "run did not finish within the harness limit; killed";
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        const int r = ::poll(&p, 1, 20);
        if (r < 0 && errno != EINTR) break;
        if (r <= 0) continue;
        const ssize_t n = ::read(fds[0], buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        reader.feed(buf.data(), static_cast<size_t>(n));
    }
    ::close(fds[0]);
    int wstatus = 0;
    while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(wstatus) && out.harness_failure.empty())
        out.harness_failure = "the run's process died by signal " + std::to_string(WTERMSIG(wstatus));
    else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) != 0 && out.harness_failure.empty())
        out.harness_failure = "the run's process exited with status " + std::to_string(WEXITSTATUS(wstatus));
    return out;
}

// ---- Files ----------------------------------------------------------------------------------------

TempDir::TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/hb-plugin-test-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + std::string(std::strerror(errno)));
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    // Tests chmod things to provoke errors; give them back their permissions first.
    for (auto it = fs::recursive_directory_iterator(path_, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_directory(ec) && !it->is_symlink(ec)) fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
}

void write_file(const fs::path& path, std::string_view content) {
    fs::create_directories(path.parent_path());
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!f) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const fs::path& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + path.string());
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

void set_age(const fs::path& path, int64_t age_seconds) {
    timespec times[2];
    ::clock_gettime(CLOCK_REALTIME, &times[0]);
    times[0].tv_sec -= age_seconds;
    times[1] = times[0];
    if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
        throw std::runtime_error("utimensat " + path.string() + ": " + std::strerror(errno));
}

// ---- The real binary ------------------------------------------------------------------------------

HostRun run_program(const std::string& binary, const std::vector<std::string>& args) {
    HostRun result;
    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::setpgid(0, 0);
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
        std::vector<char*> argv;
        argv.push_back(const_cast<char*>(binary.c_str()));
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(binary.c_str(), argv.data());
        ::_exit(127);
    }
    ::setpgid(pid, pid);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    const int64_t started = now_unix_ms();
    std::array<pollfd, 2> p{pollfd{out_pipe[0], POLLIN, 0}, pollfd{err_pipe[0], POLLIN, 0}};
    std::array<std::string*, 2> sinks{&result.out, &result.err};
    int open = 2;
    std::array<char, 65536> buf{};
    while (open > 0) {
        if (now_unix_ms() - started > 120'000) {
            ::kill(-pid, SIGKILL);
            result.err += "\n[harness: killed after the time limit]";
            break;
        }
        const int r = ::poll(p.data(), p.size(), 100);
        if (r < 0 && errno != EINTR) break;
        for (size_t i = 0; i < p.size(); ++i) {
            if (p[i].fd < 0 || (p[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
            const ssize_t n = ::read(p[i].fd, buf.data(), buf.size());
            if (n > 0) {
                sinks[i]->append(buf.data(), static_cast<size_t>(n));
            } else if (n == 0 || errno != EINTR) {
                ::close(p[i].fd);
                p[i].fd = -1;
                --open;
            }
        }
    }
    for (auto& x : p)
        if (x.fd >= 0) ::close(x.fd);
    int wstatus = 0;
    while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    result.exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    return result;
}

HostSandbox::HostSandbox() {
    fs::create_directories(root() / "plugins");
    fs::create_directories(root() / "state");
    fs::create_directories(data());
    // Copies, not links: the host refuses hard-linked and symlinked plugin files.
    for (const char* so : {HB_TEST_PLUGIN_DISK_SPACE, HB_TEST_PLUGIN_EXEC, HB_TEST_PLUGIN_HEARTBEAT,
                           HB_TEST_PLUGIN_RETENTION, HB_TEST_PLUGIN_SQLITE_MAINTENANCE}) {
        const fs::path to = root() / "plugins" / fs::path(so).filename();
        fs::copy_file(so, to);
        fs::permissions(to, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                fs::perms::others_read | fs::perms::others_exec);
    }
    fs::permissions(root(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                fs::perms::others_read | fs::perms::others_exec);
}

void HostSandbox::write_manifest(const std::string& tasks) const {
    write_file(root() / "manifest.toml", "[settings]\nplugins_dir = \"plugins\"\nstate_dir = \"state\"\n"
                                         "log_level = \"info\"\n\n" + tasks);
}

HostRun HostSandbox::run_task(const std::string& task) const {
    return run_program(HB_HOST_BINARY, {"--config", (root() / "manifest.toml").string(), "--run-task", task});
}

}  // namespace hbtest
