// Loading a plugin inside a task's child process (the only module that uses Boost.DLL / dlopen).
// Never called in the host process itself: a plugin's static constructors run at load.
#pragma once

#include <housebrain/plugin.h>

#include <expected>
#include <memory>
#include <string>

#include "protocol.h"

namespace hb {

struct LoadedPlugin {
    std::shared_ptr<void> library;  // keeps the shared object loaded
    const hb_plugin_descriptor* descriptor = nullptr;
    protocol::Descriptor summary;  // what is sent to the host
};

// Loads the plugin through /proc/self/fd/<fd> (the descriptor the host checked), finds the entry
// symbol, negotiates the ABI version and validates the descriptor.
std::expected<LoadedPlugin, protocol::LoadFailure> load_plugin_fd(int fd);

}  // namespace hb
