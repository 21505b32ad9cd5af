// Private directories for the host's own files (state, lock, per-task directories).
#pragma once

#include <filesystem>
#include <string>

#include "error.h"

namespace hb {

// strerror-like text for an errno value.
std::string errno_text(int e);

// mkdir -p, creating each missing directory with mode 0750. The error reads "<dir>: <reason>"
// (with the failing parent named after <dir> when it is not <dir> itself); callers prefix it.
Result<void> make_private_dirs(const std::filesystem::path& dir);

}  // namespace hb
