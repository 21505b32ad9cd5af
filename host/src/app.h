// The actions of the command line, wired from the modules. main() only calls run_app().
#pragma once

namespace hb {

// Exit statuses (documented in --help and the README).
inline constexpr int kExitOk = 0;
inline constexpr int kExitTaskFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitLocked = 3;
inline constexpr int kExitState = 4;

int run_app(int argc, const char* const* argv);

}  // namespace hb
