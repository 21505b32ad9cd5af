#include "plugin_loader.h"

#include <boost/dll/shared_library.hpp>
#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "outcome.h"

namespace hb {

namespace {

std::string version_text(uint32_t v) {
    return std::to_string(HB_ABI_VERSION_GET_MAJOR(v)) + "." + std::to_string(HB_ABI_VERSION_GET_MINOR(v));
}

protocol::LoadFailure failure(LoadErrorKind kind, std::string message) {
    return {static_cast<int32_t>(kind), std::move(message)};
}

// Boost.DLL wraps dlerror's text: "boost::dll::shared_library::load() failed (dlerror system
// message: /proc/self/fd/5: <reason>): <errno text>". Keep the <reason> an admin can act on.
std::string dl_reason(const std::string& what) {
    const std::string marker = "dlerror system message: ";
    const auto pos = what.find(marker);
    if (pos == std::string::npos) return what;
    std::string r = what.substr(pos + marker.size());
    if (const auto end = r.rfind("): "); end != std::string::npos) r.erase(end);
    else if (!r.empty() && r.back() == ')') r.pop_back();
    // dlerror names the file as /proc/self/fd/N; drop that prefix.
    if (r.starts_with("/proc/self/fd/")) {
        const auto colon = r.find(": ");
        if (colon != std::string::npos) r = r.substr(colon + 2);
    }
    return r;
}

std::string machine_name(unsigned m) {
    switch (m) {
        case EM_386: return "x86 (i386)";
        case EM_X86_64: return "x86-64";
        case EM_ARM: return "32-bit ARM";
        case EM_AARCH64: return "AArch64";
        case EM_RISCV: return "RISC-V";
        case EM_PPC64: return "PowerPC64";
        case EM_S390: return "S/390";
        case EM_MIPS: return "MIPS";
        default: return "ELF machine " + std::to_string(m);
    }
}

#if defined(__x86_64__)
constexpr unsigned kHostMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr unsigned kHostMachine = EM_AARCH64;
#elif defined(__i386__)
constexpr unsigned kHostMachine = EM_386;
#elif defined(__riscv)
constexpr unsigned kHostMachine = EM_RISCV;
#else
constexpr unsigned kHostMachine = 0;  // unknown: leave the machine check to the dynamic loader
#endif

#if defined(__LP64__)
using Ehdr = Elf64_Ehdr;
using Phdr = Elf64_Phdr;
constexpr unsigned char kHostClass = ELFCLASS64;
#else
using Ehdr = Elf32_Ehdr;
using Phdr = Elf32_Phdr;
constexpr unsigned char kHostClass = ELFCLASS32;
#endif

// The ELF header read from the checked descriptor, so the common mistakes get a plain reason:
// glibc's dlopen says "cannot open shared object file: No such file or directory" for a library of
// another architecture. Empty when the header looks loadable (dlopen then has the last word).
std::string elf_header_problem(int fd, bool& execstack) {
    execstack = false;
    Ehdr h{};
    const ssize_t n = ::pread(fd, &h, sizeof h, 0);
    if (n == 0) return "empty file (0 bytes), not a shared object";
    if (n < 0) return std::string("cannot read: ") + std::strerror(errno);
    if (static_cast<size_t>(n) < EI_NIDENT || std::memcmp(h.e_ident, ELFMAG, SELFMAG) != 0)
        return "not an ELF file (no ELF magic number at its start)";
    if (static_cast<size_t>(n) < sizeof h) return "truncated ELF file (" + std::to_string(n) + " bytes)";
    if (h.e_ident[EI_CLASS] != kHostClass)
        return std::string("built for ") + (h.e_ident[EI_CLASS] == ELFCLASS32 ? "32-bit" : "64-bit") +
               " (ELF class " + std::to_string(h.e_ident[EI_CLASS]) + "), this host loads " +
               (kHostClass == ELFCLASS64 ? "64-bit" : "32-bit") + " plugins";
    if (kHostMachine != 0 && h.e_machine != kHostMachine)
        return "built for " + machine_name(h.e_machine) + ", this host runs " + machine_name(kHostMachine) +
               " (wrong architecture)";
    if (h.e_type != ET_DYN) return "not a shared object (ELF type " + std::to_string(h.e_type) + ")";
    struct stat st {};
    const uint64_t headers_end = static_cast<uint64_t>(h.e_phoff) + uint64_t{h.e_phnum} * h.e_phentsize;
    if (::fstat(fd, &st) == 0 && headers_end > static_cast<uint64_t>(st.st_size))
        return "truncated ELF file (" + std::to_string(st.st_size) + " bytes, its program headers end at byte " +
               std::to_string(headers_end) + ")";
    // PT_GNU_STACK with PF_X: the plugin asks for an executable stack (linked with -z execstack).
    if (h.e_phentsize == sizeof(Phdr) && h.e_phnum < 256) {
        for (unsigned i = 0; i < h.e_phnum; ++i) {
            Phdr ph{};
            if (::pread(fd, &ph, sizeof ph, static_cast<off_t>(h.e_phoff + i * sizeof ph)) != sizeof ph) break;
            if (ph.p_type == PT_GNU_STACK) execstack = (ph.p_flags & PF_X) != 0;
        }
    }
    return {};
}

}  // namespace

std::expected<LoadedPlugin, protocol::LoadFailure> load_plugin_fd(int fd) {
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    bool execstack = false;
    if (auto problem = elf_header_problem(fd, execstack); !problem.empty())
        return std::unexpected(failure(LoadErrorKind::open_failed, "cannot load: " + problem));
    auto lib = std::make_shared<boost::dll::shared_library>();
    try {
        // rtld_now: an unresolved symbol is a load error now, not a crash in the middle of run().
        lib->load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    } catch (const std::exception& e) {
        std::string why = "cannot load: " + dl_reason(e.what());
        if (execstack)
            why += " (the plugin is linked with an executable stack, -z execstack, which MemoryDenyWriteExecute= "
                   "and similar hardening forbid; rebuild it without)";
        return std::unexpected(failure(LoadErrorKind::open_failed, why));
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
