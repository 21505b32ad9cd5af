// The host's log (the only module that uses spdlog). Synchronous and single-threaded on purpose:
// the host forks task processes, and a logging thread must not exist at fork time.
//
// Under journald (stderr is the stream named by $JOURNAL_STREAM) every line starts with a <N>
// syslog priority and carries no timestamp, so `journalctl -p warning` selects exactly the
// problems; on a terminal lines are readable, coloured when stderr is a TTY.
#pragma once

#include <string_view>

namespace hb {

enum class LogLevel { debug, info, warning, error };

// Sets up the logger; `level` is the threshold ("debug", "info", "warning", "error").
void setup_logging(std::string_view level);
void set_log_level(std::string_view level);
bool log_enabled(LogLevel level);
void log_line(LogLevel level, std::string_view message);
// True when stderr is connected to the journal.
bool stderr_is_journal();

}  // namespace hb
