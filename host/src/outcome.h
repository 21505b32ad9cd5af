// What happened to one task: the small named set of outcomes, and how a finished child maps to one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hb {

enum class Outcome {
    ok,            // run() returned HB_STATUS_OK
    failed,        // run() returned HB_STATUS_FAILED (or an unknown status); message from set_error
    cancelled,     // run() returned HB_STATUS_CANCELLED after should_stop()
    crashed,       // the task's process died of a signal during run()
    timed_out,     // the deadline passed; the process group was stopped
    load_error,    // the plugin could not be loaded (not ELF, no entry symbol, ABI mismatch, ...)
    no_result,     // the process exited without reporting a result (exit() inside run, ...)
    refused,       // the plugin file failed the safety checks and was never loaded
    missing,       // the manifest names a plugin file that does not exist
    interrupted,   // the host was told to stop (SIGTERM/SIGINT) while the task ran
    skipped,       // not due / disabled / quarantined (not recorded as a run)
};

std::string_view outcome_name(Outcome o);
std::optional<Outcome> outcome_from_name(std::string_view name);

// Did the task do its work?
inline bool outcome_ok(Outcome o) { return o == Outcome::ok; }
// Outcomes that count towards quarantine (the plugin itself misbehaves).
inline bool outcome_is_crash(Outcome o) {
    return o == Outcome::crashed || o == Outcome::timed_out || o == Outcome::no_result || o == Outcome::load_error;
}

// Reasons a load fails inside the child; sent in LoadFailure frames.
enum class LoadErrorKind : int32_t {
    open_failed = 1,      // dlopen failed: not ELF, wrong architecture, missing dependency, execstack...
    no_entry = 2,         // the entry symbol is missing
    abi_mismatch = 3,     // major version differs
    declined = 4,         // the plugin returned NULL from its entry function
    bad_descriptor = 5,   // struct_size too small, name or run missing
};

// "SIGSEGV" for 11, and so on; "signal N" when unknown.
std::string signal_name(int sig);

}  // namespace hb
