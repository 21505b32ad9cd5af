// Plugin discovery: accounts for every file in the plugins directory, and opens plugin files the
// safe way (the only module that looks at the plugins directory).
//
// A plugin file is opened once with O_NOFOLLOW and checked on that descriptor with fstat: a regular
// file, owned by root or by the user the host runs as, not group- or world-writable, one hard
// link; the directory is checked likewise. The child then loads /proc/self/fd/N of that very
// descriptor, so a file swapped after the check is never the one loaded.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "error.h"
#include "unique_fd.h"

namespace hb {

enum class FileVerdict {
    plugin,   // a *.so file that passed the checks
    ignored,  // editor/package leftover, hidden file, not a .so, a directory
    refused,  // a *.so file that failed a safety check; never loaded
};

struct PluginFile {
    std::string name;  // file name within the plugins dir
    FileVerdict verdict = FileVerdict::ignored;
    std::string reason;    // for ignored and refused
    std::string identity;  // "dev:ino:size:mtime_ns" for plugins and refused files
};

struct PluginInventory {
    std::filesystem::path dir;
    std::string dir_problem;  // non-empty: the directory itself is unusable (missing, unsafe)
    std::vector<PluginFile> files;  // sorted by name

    [[nodiscard]] const PluginFile* find(std::string_view name) const;
};

// Why a name is ignored ("" when it is a plugin candidate): hidden, backup, package leftovers, not .so.
std::string ignore_reason(std::string_view name);

PluginInventory scan_plugins_dir(const std::filesystem::path& dir);

struct CheckedPlugin {
    UniqueFd fd;  // O_RDONLY, O_CLOEXEC; load through /proc/self/fd/<fd>
    std::string identity;
};

// Opens `dir/name` and applies the safety checks; the error is the refusal reason.
Result<CheckedPlugin> open_checked_plugin(const std::filesystem::path& dir, std::string_view name);

}  // namespace hb
