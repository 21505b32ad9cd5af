// Metrics for node_exporter's textfile collector, written atomically (temp file in the same
// directory, fsync, rename) so the collector never reads a half-written file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "error.h"
#include "state.h"

namespace hb {

// The text of the metrics file (exposed for tests).
std::string render_metrics(const std::map<std::string, TaskState>& states, int64_t run_duration_ms, int64_t now_unix_s);

Result<void> write_metrics(const std::filesystem::path& file, const std::map<std::string, TaskState>& states,
                           int64_t run_duration_ms);

}  // namespace hb
