// retention: deletes old files under one directory, by age, by count and by total size.
//
// Safety first: the scan and the deletions work on directory descriptors (openat, fstatat with
// AT_SYMLINK_NOFOLLOW, unlinkat), every directory below the configured one is opened with
// O_NOFOLLOW and checked against the device and inode seen during the scan, and only regular files
// are ever deleted. So a symlink inside the tree is never followed, never deleted through, and a
// directory swapped for a symlink between the scan and the deletion is refused. The walk stays on
// the configured directory's filesystem. Directories go only with delete_empty_dirs = true.
#include <housebrain/plugin.hpp>
#include <hbplugins/fd.hpp>
#include <hbplugins/units.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

namespace {

using hbplugins::errno_text;
using hbplugins::format_bytes;
using hbplugins::UniqueFd;

struct Settings {
    std::string directory;
    std::vector<std::string> patterns{"*"};
    bool recursive = false;
    std::optional<int64_t> max_age;  // seconds
    std::optional<int64_t> keep_newest;
    std::optional<uint64_t> max_total_size;
    int64_t min_keep = 0;
    bool delete_empty_dirs = false;
    bool dry_run = false;
};

int64_t non_negative(const housebrain::Config& cfg, std::string_view key) {
    const int64_t v = cfg.integer(key);
    if (v < 0) throw housebrain::ConfigError("config key '" + cfg.path(key) + "' must not be negative");
    return v;
}

Settings read_settings(const housebrain::Config& cfg) {
    cfg.allow_only({"directory", "patterns", "recursive", "max_age", "keep_newest", "max_total_size", "min_keep",
                    "delete_empty_dirs", "dry_run"});
    Settings s;
    s.directory = cfg.string("directory");
    if (s.directory.empty() || s.directory.front() != '/')
        throw housebrain::ConfigError("config key 'directory' must be an absolute path, not '" + s.directory + "'");
    if (cfg.has("patterns")) {
        s.patterns = cfg.strings("patterns");
        if (s.patterns.empty()) throw housebrain::ConfigError("config key 'patterns' must not be empty");
        for (const auto& p : s.patterns)
            if (p.empty()) throw housebrain::ConfigError("config key 'patterns' must not hold an empty pattern");
    }
    s.recursive = cfg.boolean_or("recursive", false);
    if (cfg.has("max_age")) s.max_age = hbplugins::config_timespan(cfg, "max_age");
    if (cfg.has("keep_newest")) s.keep_newest = non_negative(cfg, "keep_newest");
    if (cfg.has("max_total_size")) s.max_total_size = hbplugins::config_size(cfg, "max_total_size");
    if (cfg.has("min_keep")) s.min_keep = non_negative(cfg, "min_keep");
    s.delete_empty_dirs = cfg.boolean_or("delete_empty_dirs", false);
    s.dry_run = cfg.boolean_or("dry_run", false);
    if (!s.max_age && !s.keep_newest && !s.max_total_size)
        throw housebrain::ConfigError(
            "config needs at least one limit: 'max_age', 'keep_newest' or 'max_total_size'");
    if (s.delete_empty_dirs && !s.recursive)
        throw housebrain::ConfigError("config key 'delete_empty_dirs' needs 'recursive = true'");
    return s;
}

// What the scan saw. Directories form a tree (index 0 is the configured directory); files are the
// regular files that match a pattern.
struct DirNode {
    std::string name;  // name inside the parent ("" for the top)
    std::string rel;   // path relative to the top ("" for the top)
    dev_t dev = 0;
    ino_t ino = 0;
    size_t entries = 0;  // everything the scan found in it, of any type
    std::vector<size_t> children{};
    std::vector<size_t> files{};
};

struct FileEntry {
    std::string name;
    std::string rel;
    timespec mtime{};
    uint64_t size = 0;
    ino_t ino = 0;
    bool remove = false;
};

std::string join(const std::string& rel, const std::string& name) { return rel.empty() ? name : rel + "/" + name; }

class Retention {
public:
    hb_status run(housebrain::Context& ctx) {
        ctx_ = &ctx;
        settings_ = read_settings(ctx.config());

        UniqueFd top(::open(settings_.directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!top) throw housebrain::TaskError("cannot open directory '" + settings_.directory + "': " + errno_text(errno));
        struct stat st{};
        if (::fstat(top.get(), &st) != 0)
            throw housebrain::TaskError("cannot stat '" + settings_.directory + "': " + errno_text(errno));
        top_dev_ = st.st_dev;
        dirs_.push_back(DirNode{.name = "", .rel = "", .dev = st.st_dev, .ino = st.st_ino});

        if (!scan(top.get(), 0)) return cancelled();
        plan();
        if (!apply(top.get(), 0)) return cancelled();
        return report();
    }

private:
    // Fills dirs_[node] (and below, when recursive) from the open directory `fd`. False if stopped.
    bool scan(int fd, size_t node) {
        UniqueFd own(::dup(fd));
        if (!own) {
            problem("cannot read '" + shown(dirs_[node].rel) + "': " + errno_text(errno));
            return true;
        }
        DIR* dir = ::fdopendir(own.get());
        if (dir == nullptr) {
            problem("cannot read '" + shown(dirs_[node].rel) + "': " + errno_text(errno));
            return true;
        }
        own.release();
        struct Closer {
            DIR* d;
            ~Closer() { ::closedir(d); }
        } closer{dir};
        ::rewinddir(dir);

        while (true) {
            if (ctx_->should_stop()) return false;
            errno = 0;
            const dirent* de = ::readdir(dir);
            if (de == nullptr) {
                if (errno != 0) problem("cannot read '" + shown(dirs_[node].rel) + "': " + errno_text(errno));
                break;
            }
            const std::string name = de->d_name;
            if (name == "." || name == "..") continue;
            struct stat st{};
            if (::fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno != ENOENT) problem("cannot stat '" + join(dirs_[node].rel, name) + "': " + errno_text(errno));
                continue;
            }
            ++dirs_[node].entries;
            const std::string rel = join(dirs_[node].rel, name);
            if (S_ISDIR(st.st_mode)) {
                if (!settings_.recursive) continue;
                if (st.st_dev != top_dev_) {
                    ctx_->debug("not descending into '" + rel + "': another filesystem");
                    continue;
                }
                UniqueFd sub(::openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
                if (!sub) {
                    problem("cannot open '" + rel + "': " + errno_text(errno));
                    continue;
                }
                const size_t child = dirs_.size();
                dirs_.push_back(DirNode{.name = name, .rel = rel, .dev = st.st_dev, .ino = st.st_ino});
                dirs_[node].children.push_back(child);
                if (!scan(sub.get(), child)) return false;
            } else if (S_ISREG(st.st_mode) && matches(rel)) {
                dirs_[node].files.push_back(files_.size());
                files_.push_back(FileEntry{.name = name,
                                           .rel = rel,
                                           .mtime = st.st_mtim,
                                           .size = static_cast<uint64_t>(st.st_size),
                                           .ino = st.st_ino});
            }
            // Symlinks, sockets, FIFOs and devices are counted (they keep a directory non-empty)
            // and otherwise left alone.
        }
        return true;
    }

    [[nodiscard]] bool matches(const std::string& rel) const {
        return std::ranges::any_of(settings_.patterns,
                                   [&](const std::string& p) { return ::fnmatch(p.c_str(), rel.c_str(), 0) == 0; });
    }

    // Marks the files to delete: newest first, the first min_keep are safe; after that a file goes
    // when it is older than max_age, or past the keep_newest count, or once the files kept so far
    // (newest first) would exceed max_total_size.
    void plan() {
        std::vector<size_t> order(files_.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::ranges::sort(order, [&](size_t a, size_t b) {
            const auto& x = files_[a].mtime;
            const auto& y = files_[b].mtime;
            if (x.tv_sec != y.tv_sec) return x.tv_sec > y.tv_sec;
            if (x.tv_nsec != y.tv_nsec) return x.tv_nsec > y.tv_nsec;
            return files_[a].rel < files_[b].rel;
        });
        const int64_t now = static_cast<int64_t>(::time(nullptr));
        uint64_t kept_bytes = 0;
        bool over_size = false;
        for (size_t rank = 0; rank < order.size(); ++rank) {
            FileEntry& f = files_[order[rank]];
            const bool protected_ = static_cast<int64_t>(rank) < settings_.min_keep;
            bool remove = false;
            if (settings_.max_age && now - static_cast<int64_t>(f.mtime.tv_sec) > *settings_.max_age) remove = true;
            if (settings_.keep_newest && static_cast<int64_t>(rank) >= *settings_.keep_newest) remove = true;
            if (settings_.max_total_size && (over_size || kept_bytes + f.size > *settings_.max_total_size)) {
                over_size = true;  // once over, every older file goes too
                remove = true;
            }
            f.remove = remove && !protected_;
            if (!f.remove) kept_bytes += f.size;
        }
    }

    // Deletes what plan() marked, below the open directory `fd` (dirs_[node]). False if stopped.
    bool apply(int fd, size_t node) {
        DirNode& dir = dirs_[node];
        for (size_t fi : dir.files) {
            if (ctx_->should_stop()) return false;
            const FileEntry& f = files_[fi];
            if (!f.remove) continue;
            struct stat st{};
            if (::fstatat(fd, f.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
                st.st_ino != f.ino) {
                ctx_->debug("'" + f.rel + "' changed since the scan; left alone");
                continue;
            }
            if (settings_.dry_run) {
                announce("would remove '" + f.rel + "' (" + format_bytes(f.size) + ")");
            } else if (::unlinkat(fd, f.name.c_str(), 0) != 0) {
                if (errno != ENOENT) problem("cannot remove '" + f.rel + "': " + errno_text(errno));
                continue;
            } else {
                ctx_->debug("removed '" + f.rel + "' (" + format_bytes(f.size) + ")");
            }
            ++files_removed_;
            bytes_removed_ += f.size;
            --dir.entries;
        }
        for (size_t child : dir.children) {
            const DirNode& c = dirs_[child];
            UniqueFd sub(::openat(fd, c.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            struct stat st{};
            if (!sub || ::fstat(sub.get(), &st) != 0 || st.st_dev != c.dev || st.st_ino != c.ino) {
                ctx_->debug("'" + c.rel + "' changed since the scan; left alone");
                continue;
            }
            if (!apply(sub.get(), child)) return false;
            sub.reset();
            if (!settings_.delete_empty_dirs || c.entries != 0) continue;
            if (settings_.dry_run) {
                announce("would remove empty directory '" + c.rel + "'");
            } else if (::unlinkat(fd, c.name.c_str(), AT_REMOVEDIR) != 0) {
                // Not empty after all (something appeared, or an entry we could not stat): keep it.
                if (errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
                    problem("cannot remove directory '" + c.rel + "': " + errno_text(errno));
                continue;
            } else {
                ctx_->debug("removed empty directory '" + c.rel + "'");
            }
            ++dirs_removed_;
            --dirs_[node].entries;
        }
        return true;
    }

    [[nodiscard]] std::string summary() const {
        size_t kept = 0;
        uint64_t kept_bytes = 0;
        for (const auto& f : files_)
            if (!f.remove) ++kept, kept_bytes += f.size;
        std::string s = (settings_.dry_run ? "would remove " : "removed ") + std::to_string(files_removed_) +
                        (files_removed_ == 1 ? " file, " : " files, ") + format_bytes(bytes_removed_);
        if (dirs_removed_ > 0)
            s += " and " + std::to_string(dirs_removed_) + (dirs_removed_ == 1 ? " empty directory" : " empty directories");
        s += " from " + settings_.directory + "; kept " + std::to_string(kept) + (kept == 1 ? " file, " : " files, ") +
             format_bytes(kept_bytes);
        return s;
    }

    hb_status report() {
        ctx_->info(summary());
        if (problems_.empty()) return HB_STATUS_OK;
        std::string msg = std::to_string(problems_.size()) + (problems_.size() == 1 ? " problem: " : " problems: ");
        for (size_t i = 0; i < problems_.size() && i < 3; ++i) msg += (i ? "; " : "") + problems_[i];
        if (problems_.size() > 3) msg += "; ...";
        ctx_->set_error(msg);
        return HB_STATUS_FAILED;
    }

    hb_status cancelled() {
        ctx_->info("stopped early: " + summary());
        ctx_->set_error("stopped before finishing");
        return HB_STATUS_CANCELLED;
    }

    void problem(std::string message) {
        ctx_->warning(message);
        problems_.push_back(std::move(message));
    }

    // Dry-run lines: each file at info level, up to a limit, so a trial run shows what it would do.
    void announce(const std::string& line) {
        constexpr size_t kMaxLines = 100;
        if (announced_ < kMaxLines) ctx_->info(line);
        else if (announced_ == kMaxLines) ctx_->info("(more files would be removed; not listed)");
        ++announced_;
    }

    [[nodiscard]] std::string shown(const std::string& rel) const { return rel.empty() ? settings_.directory : rel; }

    housebrain::Context* ctx_ = nullptr;
    Settings settings_;
    dev_t top_dev_ = 0;
    std::vector<DirNode> dirs_;
    std::vector<FileEntry> files_;
    std::vector<std::string> problems_;
    size_t files_removed_ = 0, dirs_removed_ = 0, announced_ = 0;
    uint64_t bytes_removed_ = 0;
};

}  // namespace

HOUSEBRAIN_PLUGIN(Retention, "retention", "1.0.0",
                  "deletes old files in a directory by age, count or total size", 0, nullptr)
