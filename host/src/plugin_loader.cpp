#include "plugin_loader.h"

#include <boost/dll/shared_library.hpp>

#include <cstddef>

#include "outcome.h"

namespace hb {

namespace {

std::string version_text(uint32_t v) {
    return std::to_string(HB_ABI_VERSION_GET_MAJOR(v)) + "." + std::to_string(HB_ABI_VERSION_GET_MINOR(v));
}

protocol::LoadFailure failure(LoadErrorKind kind, std::string message) {
    return {static_cast<int32_t>(kind), std::move(message)};
}

// Boost.DLL prefixes dlerror's text with its own; keep the part an admin can act on.
std::string dl_reason(const std::string& what) {
    const std::string marker = "dlerror system message: ";
    const auto pos = what.find(marker);
    if (pos == std::string::npos) return what;
    std::string r = what.substr(pos + marker.size());
    if (!r.empty() && r.back() == ')') r.pop_back();
    // dlerror names the file as /proc/self/fd/N; drop that prefix.
    if (r.starts_with("/proc/self/fd/")) {
        const auto colon = r.find(": ");
        if (colon != std::string::npos) r = r.substr(colon + 2);
    }
    return r;
}

}  // namespace

std::expected<LoadedPlugin, protocol::LoadFailure> load_plugin_fd(int fd) {
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    auto lib = std::make_shared<boost::dll::shared_library>();
    try {
        // rtld_now: an unresolved symbol is a load error now, not a crash in the middle of run().
        lib->load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    } catch (const std::exception& e) {
        return std::unexpected(failure(LoadErrorKind::open_failed, "cannot load: " + dl_reason(e.what())));
    }
    if (!lib->has(HB_PLUGIN_ENTRY_SYMBOL))
        return std::unexpected(failure(LoadErrorKind::no_entry, std::string("no entry symbol '") +
                                                                     HB_PLUGIN_ENTRY_SYMBOL +
                                                                     "' (not a housebrain-periodic plugin?)"));
    auto entry = lib->get<std::remove_pointer_t<hb_plugin_entry_fn>>(HB_PLUGIN_ENTRY_SYMBOL);

    uint32_t plugin_abi = 0;
    const hb_plugin_descriptor* d = entry(HB_ABI_VERSION, &plugin_abi);
    if (plugin_abi != 0 && HB_ABI_VERSION_GET_MAJOR(plugin_abi) != HB_ABI_VERSION_MAJOR)
        return std::unexpected(failure(LoadErrorKind::abi_mismatch, "plugin speaks ABI " + version_text(plugin_abi) +
                                                                        ", host speaks ABI " +
                                                                        version_text(HB_ABI_VERSION)));
    if (d == nullptr)
        return std::unexpected(failure(LoadErrorKind::declined, "plugin declined host ABI " +
                                                                    version_text(HB_ABI_VERSION) + " (it speaks " +
                                                                    version_text(plugin_abi) + ")"));
    // Fields up to and including run() are the 1.0 prefix every plugin must provide.
    constexpr uint32_t kMinSize = offsetof(hb_plugin_descriptor, run) + sizeof(d->run);
    if (d->struct_size < kMinSize)
        return std::unexpected(failure(LoadErrorKind::bad_descriptor,
                                       "descriptor struct_size " + std::to_string(d->struct_size) +
                                           " is smaller than the ABI 1.0 descriptor (" + std::to_string(kMinSize) + ")"));
    if (HB_ABI_VERSION_GET_MAJOR(d->abi_version) != HB_ABI_VERSION_MAJOR)
        return std::unexpected(failure(LoadErrorKind::abi_mismatch, "plugin descriptor is ABI " +
                                                                        version_text(d->abi_version) +
                                                                        ", host speaks ABI " +
                                                                        version_text(HB_ABI_VERSION)));
    if (d->name == nullptr || d->name[0] == '\0')
        return std::unexpected(failure(LoadErrorKind::bad_descriptor, "descriptor has no name"));
    if (d->run == nullptr) return std::unexpected(failure(LoadErrorKind::bad_descriptor, "descriptor has no run function"));

    LoadedPlugin out;
    out.descriptor = d;
    out.summary.abi_version = d->abi_version;
    out.summary.default_timeout_sec = d->default_timeout_sec;
    out.summary.name = d->name;
    out.summary.version = d->version ? d->version : "";
    out.summary.description = d->description ? d->description : "";
    out.summary.default_schedule = d->default_schedule ? d->default_schedule : "";
    out.library = std::move(lib);
    return out;
}

}  // namespace hb
