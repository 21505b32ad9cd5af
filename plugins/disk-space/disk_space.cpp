// disk-space: fails when a filesystem runs low on free space or free inodes.
//
// Free space is what an unprivileged process can still use (statvfs f_bavail, as `df` shows under
// "Avail"), and percentages are of the space `df` counts (used + available), so the figures here
// match `df` and `df -i`.
#include <housebrain/plugin.hpp>
#include <hbplugins/units.hpp>

#include <sys/statvfs.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace {

using housebrain::ConfigError;
using hbplugins::format_bytes;

// A minimum: an absolute amount (bytes or inodes) or a percentage.
struct Threshold {
    std::optional<double> percent{};
    uint64_t amount = 0;
};

std::string percent_text(double p) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%%", p);
    return buf;
}

std::string threshold_text(const Threshold& t, bool bytes) {
    if (t.percent) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g%%", *t.percent);
        return buf;
    }
    return bytes ? format_bytes(t.amount) : std::to_string(t.amount) + " inodes";
}

// "10%" or, for space, a size ("1G", "500M", integer bytes); for inodes, an integer count.
Threshold read_threshold(const housebrain::Config& cfg, std::string_view key, bool bytes) {
    const int32_t type = cfg.type(key);
    if (type == HB_CONFIG_STRING) {
        const std::string text = cfg.string(key);
        if (text.find('%') != std::string::npos) {
            auto p = hbplugins::parse_percent(text);
            if (!p) throw ConfigError("config key '" + cfg.path(key) + "': " + p.error());
            return Threshold{.percent = *p};
        }
        if (bytes) return Threshold{.amount = hbplugins::config_size(cfg, key)};
    } else if (type == HB_CONFIG_INT) {
        const int64_t n = cfg.integer(key);
        if (n < 0) throw ConfigError("config key '" + cfg.path(key) + "' must not be negative");
        return Threshold{.amount = static_cast<uint64_t>(n)};
    }
    throw ConfigError("config key '" + cfg.path(key) + "' must be " +
                      (bytes ? "a size such as \"1G\" or a percentage such as \"10%\""
                             : "an integer count or a percentage such as \"5%\""));
}

struct Settings {
    std::vector<std::string> paths;
    std::optional<Threshold> min_free;
    std::optional<Threshold> min_free_inodes;
};

Settings read_settings(const housebrain::Config& cfg) {
    cfg.allow_only({"paths", "min_free", "min_free_inodes"});
    Settings s;
    s.paths = cfg.strings("paths");
    if (s.paths.empty()) throw ConfigError("config key 'paths' must name at least one path");
    for (const auto& p : s.paths)
        if (p.empty() || p.front() != '/') throw ConfigError("config key 'paths' must hold absolute paths, not '" + p + "'");
    if (cfg.has("min_free")) s.min_free = read_threshold(cfg, "min_free", true);
    if (cfg.has("min_free_inodes")) s.min_free_inodes = read_threshold(cfg, "min_free_inodes", false);
    if (!s.min_free && !s.min_free_inodes)
        throw ConfigError("config needs at least one of 'min_free' and 'min_free_inodes'");
    return s;
}

// Free amount vs threshold. `total` is what percentages are taken of.
bool below(const Threshold& t, uint64_t free, uint64_t total) {
    if (t.percent) return static_cast<double>(free) * 100.0 < *t.percent * static_cast<double>(total);
    return free < t.amount;
}

double percent_of(uint64_t part, uint64_t total) {
    return total == 0 ? 0.0 : static_cast<double>(part) * 100.0 / static_cast<double>(total);
}

class DiskSpace {
public:
    hb_status run(housebrain::Context& ctx) {
        const Settings s = read_settings(ctx.config());
        std::vector<std::string> problems, summaries;
        for (const auto& path : s.paths) {
            struct statvfs v{};
            if (::statvfs(path.c_str(), &v) != 0) {
                problems.push_back(path + ": cannot check: " + std::strerror(errno));
                continue;
            }
            std::string summary = path + ":";
            if (s.min_free) {
                const uint64_t unit = v.f_frsize != 0 ? v.f_frsize : v.f_bsize;
                const uint64_t avail = static_cast<uint64_t>(v.f_bavail) * unit;
                // df's size: used + available (the root-reserved blocks excluded).
                const uint64_t total = (static_cast<uint64_t>(v.f_blocks) - v.f_bfree + v.f_bavail) * unit;
                const std::string figures = format_bytes(avail) + " free (" + percent_text(percent_of(avail, total)) + ")";
                if (v.f_blocks == 0) {
                    ctx.warning(path + ": the filesystem reports no size; space not checked");
                    summary += " space not reported";
                } else if (below(*s.min_free, avail, total)) {
                    problems.push_back(path + ": " + figures + ", below " + threshold_text(*s.min_free, true));
                } else {
                    summary += " " + figures;
                }
            }
            if (s.min_free_inodes) {
                const uint64_t avail = v.f_favail;
                const uint64_t total = v.f_files - v.f_ffree + v.f_favail;
                const std::string figures =
                    std::to_string(avail) + " inodes free (" + percent_text(percent_of(avail, total)) + ")";
                if (v.f_files == 0) {
                    // btrfs and some others allocate inodes dynamically and report none.
                    ctx.debug(path + ": the filesystem reports no inode counts; inodes not checked");
                    summary += " inodes not reported";
                } else if (below(*s.min_free_inodes, avail, total)) {
                    problems.push_back(path + ": " + figures + ", below " + threshold_text(*s.min_free_inodes, false));
                } else {
                    summary += (s.min_free ? ", " : " ") + figures;
                }
            }
            summaries.push_back(summary);
        }
        if (!problems.empty()) {
            std::string msg;
            for (const auto& p : problems) msg += (msg.empty() ? "" : "; ") + p;
            ctx.set_error(msg);
            return HB_STATUS_FAILED;
        }
        std::string msg;
        for (const auto& p : summaries) msg += (msg.empty() ? "" : "; ") + p;
        ctx.info(msg);
        return HB_STATUS_OK;
    }
};

}  // namespace

HOUSEBRAIN_PLUGIN(DiskSpace, "disk-space", "1.0.0", "fails when a filesystem runs low on free space or inodes", 0,
                  nullptr)
