#include "fault_support.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace hbfault {

using namespace hbtest;

std::string task(const std::string& name, const std::string& plugin, const std::string& extra) {
    return "[[task]]\nname = \"" + name + "\"\nplugin = \"" + plugin + "\"\n" + extra + "\n\n";
}

std::string healthy(Sandbox& sb, const std::vector<std::string>& names) {
    if (!fs::exists(sb.plugins() / "ok_marker.so")) sb.add_fixture("ok_marker");
    std::string out;
    for (const auto& n : names) out += ok_task(sb, n);
    return out;
}

void add_fault_plugin(const Sandbox& sb, const std::string& name) {
    const fs::path dst = sb.plugins() / (name + ".so");
    fs::copy_file(fs::path(HB_FAULT_PLUGIN_DIR) / (name + ".so"), dst, fs::copy_options::overwrite_existing);
    fs::permissions(dst, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
}

std::vector<std::string> history_of(const Sandbox& sb, const std::string& task_name) {
    auto h = sb.run({"--history", "--json", "-n", "10000"});
    EXPECT_EQ(h.exit_code, 0) << h.err;
    std::vector<std::string> out;
    std::istringstream in(h.out);
    const std::string key = "\"task\":\"" + task_name + "\",";
    for (std::string line; std::getline(in, line);)
        if (line.find(key) != std::string::npos) out.push_back(line);
    return out;
}

void expect_healthy_saved(const Sandbox& sb, const std::vector<std::string>& names) {
    for (const auto& n : names) {
        EXPECT_TRUE(fs::exists(sb.marker(n))) << "healthy task '" << n << "' did not run";
        bool ok_run = false;
        for (const auto& line : history_of(sb, n)) ok_run = ok_run || line.find("\"outcome\":\"ok\"") != std::string::npos;
        EXPECT_TRUE(ok_run) << "no saved ok run of healthy task '" << n << "' in --history";
    }
}

void expect_clean(const ProcessResult& r) {
    EXPECT_FALSE(r.timed_out) << "the host did not finish by itself:\n" << r.err;
    for (const char* report : {"AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error:"})
        EXPECT_EQ(r.err.find(report), std::string::npos) << "sanitizer report from the host:\n" << r.err;
}

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

std::vector<pid_t> survivors(const Sandbox& sb) {
    std::vector<pid_t> out;
    const std::string needle = sb.manifest().string();
    DIR* d = opendir("/proc");
    if (d == nullptr) return out;
    while (const dirent* e = readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        const std::string base = std::string("/proc/") + e->d_name;
        std::string cmdline = slurp(base + "/cmdline");
        std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
        if (cmdline.find(needle) == std::string::npos) continue;
        const std::string stat = slurp(base + "/stat");
        const auto close = stat.rfind(')');
        if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z') continue;
        out.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
    }
    closedir(d);
    return out;
}

std::vector<pid_t> wait_no_survivors(const Sandbox& sb, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    for (;;) {
        auto left = survivors(sb);
        if (left.empty() || std::chrono::steady_clock::now() >= end) return left;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

void kill_survivors(const Sandbox& sb) {
    for (int round = 0; round < 5; ++round) {
        const auto left = survivors(sb);
        if (left.empty()) return;
        for (pid_t p : left) kill(p, SIGKILL);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

pid_t spawn(const SpawnOptions& o) {
    // Everything the child needs is prepared before fork().
    std::vector<char*> argv;
    for (const auto& a : o.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const std::string procs = o.cgroup_procs ? o.cgroup_procs->string() : "";
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork");
    if (pid != 0) return pid;
    const int out = open(o.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(o.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int in = open("/dev/null", O_RDONLY);
    if (out < 0 || err < 0 || in < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    for (const auto& [num, path] : o.open_fds) {
        const int fd = open(path.c_str(), O_RDONLY);  // no O_CLOEXEC: the host inherits it
        if (fd < 0 || dup2(fd, num) < 0) _exit(126);
        if (fd != num) close(fd);
    }
    if (!procs.empty()) {
        const std::string me = std::to_string(getpid());
        const int fd = open(procs.c_str(), O_WRONLY);
        if (fd < 0 || write(fd, me.data(), me.size()) < 0) _exit(125);
        close(fd);
    }
    for (const auto& [k, v] : o.env) {
        if (v == "\x01unset") unsetenv(k.c_str());
        else setenv(k.c_str(), v.c_str(), 1);
    }
    unsetenv("JOURNAL_STREAM");
    execv(argv[0], argv.data());
    _exit(127);
}

std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    for (;;) {
        int status = 0;
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        if (r < 0) return std::nullopt;
        if (std::chrono::steady_clock::now() >= end) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
            return std::nullopt;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

bool wait_for_file(const fs::path& p, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (fs::exists(p)) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return fs::exists(p);
}

std::vector<std::string> host_argv(const Sandbox& sb, const std::vector<std::string>& args) {
    std::vector<std::string> argv{host_binary().string(), "--config", sb.manifest().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

std::string sqlite_integrity(const fs::path& db) {
    auto r = run_process({"/usr/bin/sqlite3", "-readonly", db.string(), "PRAGMA integrity_check;"});
    std::string out = r.out;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    if (r.exit_code != 0) return "sqlite3 failed (" + std::to_string(r.exit_code) + "): " + r.err + out;
    return out;
}

std::map<std::string, std::string> snapshot(const fs::path& dir) {
    std::map<std::string, std::string> out;
    if (!fs::exists(dir)) return out;
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = slurp(e.path().string());
    return out;
}

}  // namespace hbfault
