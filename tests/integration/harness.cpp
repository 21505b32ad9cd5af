#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace hbtest {

fs::path fixture_dir() { return HB_FIXTURE_DIR; }
fs::path host_binary() { return HB_HOST_BINARY; }

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const fs::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + p.string());
}

size_t count_occurrences(const std::string& haystack, const std::string& needle) {
    size_t n = 0;
    for (size_t pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + 1)) ++n;
    return n;
}

ProcessResult run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                          std::chrono::milliseconds timeout) {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork");
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(err[1], 2);
        const int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        for (const auto& [k, v] : env) {
            if (v == "\x01unset") unsetenv(k.c_str());
            else setenv(k.c_str(), v.c_str(), 1);
        }
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    ProcessResult r;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool out_open = true, err_open = true;
    char buf[65536];
    while (out_open || err_open) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            r.timed_out = true;
            kill(pid, SIGKILL);
            break;
        }
        pollfd fds[2] = {{out_open ? out[0] : -1, POLLIN, 0}, {err_open ? err[0] : -1, POLLIN, 0}};
        if (poll(fds, 2, static_cast<int>(std::min<long long>(left.count(), 1000))) < 0) continue;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !fds[i].revents) continue;
            const ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n <= 0) {
                (i == 0 ? out_open : err_open) = false;
                continue;
            }
            (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
        }
    }
    close(out[0]);
    close(err[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
    return r;
}

Sandbox::Sandbox() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/hb-test-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp");
    root_ = tmpl;
    fs::permissions(root_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
    fs::create_directories(plugins());
    fs::permissions(plugins(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                   fs::perms::others_read | fs::perms::others_exec);
}

Sandbox::~Sandbox() {
    std::error_code ec;
    if (!std::getenv("HB_TEST_KEEP")) fs::remove_all(root_, ec);
}

void Sandbox::add_fixture(const std::string& name, const std::string& as) {
    const fs::path dst = plugins() / (as.empty() ? name + ".so" : as);
    fs::copy_file(fixture_dir() / (name + ".so"), dst, fs::copy_options::overwrite_existing);
    fs::permissions(dst, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
}

void Sandbox::write_manifest(const std::string& tasks, const std::string& extra_settings) {
    std::string text = "[settings]\nplugins_dir = \"" + plugins().string() + "\"\nstate_dir = \"" + state().string() +
                       "\"\ndefault_timeout = \"30s\"\nkill_grace = \"1s\"\n" + extra_settings + "\n" + tasks;
    write_file(manifest(), text);
}

ProcessResult Sandbox::run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                           std::chrono::milliseconds timeout) const {
    std::vector<std::string> argv{host_binary().string(), "--config", manifest().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto e = env;
    e.emplace("JOURNAL_STREAM", "\x01unset");
    return run_process(argv, e, timeout);
}

void exec_host(const Sandbox& sb, const std::vector<std::string>& args) {
    std::vector<std::string> argv{host_binary().string(), "--config", sb.manifest().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> c;
    for (auto& a : argv) c.push_back(a.data());
    c.push_back(nullptr);
    execv(c[0], c.data());
    _exit(127);
}

std::string ok_task(const Sandbox& sb, const std::string& name) {
    return "[[task]]\nname = \"" + name + "\"\nplugin = \"ok_marker\"\nconfig = { marker = \"" +
           sb.marker(name).string() + "\" }\n\n";
}

}  // namespace hbtest
