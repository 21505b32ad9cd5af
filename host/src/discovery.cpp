#include "discovery.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace hb {

namespace fs = std::filesystem;

const PluginFile* PluginInventory::find(std::string_view name) const {
    for (const auto& f : files)
        if (f.name == name) return &f;
    return nullptr;
}

std::string ignore_reason(std::string_view name) {
    if (name.starts_with('.')) return "hidden file";
    if (name.ends_with('~')) return "editor backup";
    if (name.starts_with('#') && name.ends_with('#')) return "editor autosave";
    static constexpr std::array<std::string_view, 12> leftovers{
        ".dpkg-new", ".dpkg-old", ".dpkg-dist", ".dpkg-tmp", ".dpkg-bak", ".ucf-new",
        ".ucf-old",  ".ucf-dist", ".rpmnew",    ".rpmsave",  ".rpmorig",  ".disabled"};
    for (auto s : leftovers)
        if (name.ends_with(s)) return std::string("package or admin leftover (") + std::string(s) + ")";
    static constexpr std::array<std::string_view, 7> editor{".swp", ".swo", ".swx", ".bak", ".orig", ".rej", ".tmp"};
    for (auto s : editor)
        if (name.ends_with(s)) return std::string("editor or backup file (") + std::string(s) + ")";
    if (!name.ends_with(".so")) return "not a .so file";
    return {};
}

namespace {

std::string identity_of(const struct stat& st) {
    return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
           std::to_string(static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec);
}

std::string mode_text(mode_t m) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
    return buf;
}

// The same rules as OpenSSH's StrictModes and cron: trusted owner, nobody else may write.
std::string owner_and_mode_problem(const struct stat& st, const char* what) {
    const uid_t me = geteuid();
    if (st.st_uid != 0 && st.st_uid != me)
        return std::string(what) + " is owned by uid " + std::to_string(st.st_uid) + ", not root or uid " +
               std::to_string(me);
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return std::string(what) + " is group- or world-writable (mode " + mode_text(st.st_mode) + ")";
    return {};
}

std::string type_name(mode_t m) {
    if (S_ISLNK(m)) return "a symlink";
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISSOCK(m)) return "a socket";
    if (S_ISCHR(m) || S_ISBLK(m)) return "a device";
    return "not a regular file";
}

}  // namespace

Result<CheckedPlugin> open_checked_plugin(const fs::path& dir, std::string_view name) {
    // The directory first, every time: a file is only as safe as the directory that holds it (who
    // can write there can replace the file), and a task run opens its plugin without a fresh scan.
    UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd.valid()) return fail("cannot open plugins directory " + dir.string() + ": " + std::strerror(errno));
    struct stat dst {};
    if (::fstat(dfd.get(), &dst) != 0) return fail("cannot stat plugins directory " + dir.string() + ": " + std::strerror(errno));
    if (auto p = owner_and_mode_problem(dst, "plugins directory"); !p.empty()) return fail(p);
    // Relative to the directory just checked. O_NONBLOCK: opening a FIFO must not wait for a
    // writer; O_NOFOLLOW: a symlink fails with ELOOP.
    const std::string file(name);
    UniqueFd fd(::openat(dfd.get(), file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (!fd.valid()) {
        if (errno == ELOOP) return fail("is a symlink (plugins must be regular files)");
        if (errno == ENOENT) return fail("does not exist");
        return fail(std::string("cannot open: ") + std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail(std::string("cannot stat: ") + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return fail("is " + type_name(st.st_mode) + ", not a regular file");
    if (auto p = owner_and_mode_problem(st, "file"); !p.empty()) return fail(p);
    if (st.st_nlink != 1) return fail("has " + std::to_string(st.st_nlink) + " hard links (must have exactly one)");
    // Clear O_NONBLOCK again; it only mattered for the open.
    ::fcntl(fd.get(), F_SETFL, 0);
    return CheckedPlugin{std::move(fd), identity_of(st)};
}

PluginInventory scan_plugins_dir(const fs::path& dir) {
    PluginInventory inv;
    inv.dir = dir;
    UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd.valid()) {
        inv.dir_problem = "cannot open plugins directory " + dir.string() + ": " + std::strerror(errno);
        return inv;
    }
    struct stat dst {};
    if (::fstat(dfd.get(), &dst) == 0) {
        if (auto p = owner_and_mode_problem(dst, "plugins directory"); !p.empty()) inv.dir_problem = p;
    }
    DIR* d = ::fdopendir(dfd.release());
    if (d == nullptr) {
        inv.dir_problem = "cannot read plugins directory " + dir.string() + ": " + std::strerror(errno);
        return inv;
    }
    while (const dirent* e = ::readdir(d)) {
        const std::string_view name = e->d_name;
        if (name == "." || name == "..") continue;
        PluginFile f;
        f.name = std::string(name);
        struct stat st {};
        const bool have_stat = ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0;
        if (auto why = ignore_reason(name); !why.empty()) {
            f.verdict = FileVerdict::ignored;
            f.reason = std::move(why);
        } else if (have_stat && S_ISDIR(st.st_mode)) {
            f.verdict = FileVerdict::ignored;
            f.reason = "a directory";
        } else if (!inv.dir_problem.empty()) {
            f.verdict = FileVerdict::refused;
            f.reason = inv.dir_problem;
        } else if (auto checked = open_checked_plugin(dir, name); checked) {
            f.verdict = FileVerdict::plugin;
            f.identity = checked->identity;
        } else {
            f.verdict = FileVerdict::refused;
            f.reason = checked.error().message;
            if (have_stat) f.identity = identity_of(st);
        }
        inv.files.push_back(std::move(f));
    }
    ::closedir(d);
    std::sort(inv.files.begin(), inv.files.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return inv;
}

}  // namespace hb
