// The command line (the only module that uses Boost.Program_options).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "error.h"

namespace hb {

enum class Command { run, list, check, run_task, dry_run, history, reset, calendar, help, version };

struct Options {
    Command command = Command::run;
    std::optional<std::string> config;
    std::optional<std::string> plugins_dir;
    std::optional<std::string> state_dir;
    std::optional<std::string> log_level;
    bool json = false;
    bool quiet = false;  // --check: print nothing when all is well; problems go to the log
    std::string task;  // --run-task, --reset, --history
    int64_t history_limit = 20;
    std::string calendar;  // --calendar
    std::optional<std::string> base_time;
    int iterations = 5;
    std::optional<std::string> now;  // --now: for tests (injectable clock)
    std::string help_text;
};

// Parses argv; errors (unknown option, two actions) name the problem.
Result<Options> parse_command_line(int argc, const char* const* argv);

}  // namespace hb
