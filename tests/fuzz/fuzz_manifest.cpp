// Fuzz target: the manifest loader (hb::parse_manifest), from TOML text to a Manifest or an error.
// Invariants: never crash or hang; an error names the file, line and column ("<file>:L:C: ...");
// a manifest that loads has unique task names, plugin file names ending in ".so" without '/', and
// schedules that parse.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "manifest.h"

namespace {

const std::string kSource = "/fuzz/manifest.toml";

// "<kSource>:<digits>:<digits>: " at the start of `m`.
bool names_file_line_column(const std::string& m) {
    if (m.rfind(kSource + ":", 0) != 0) return false;
    size_t i = kSource.size() + 1;
    for (int field = 0; field < 2; ++field) {
        const size_t start = i;
        while (i < m.size() && std::isdigit(static_cast<unsigned char>(m[i]))) ++i;
        if (i == start || i >= m.size() || m[i] != ':') return false;
        ++i;
    }
    return i < m.size() && m[i] == ' ';
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) { return 0; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto m = hb::parse_manifest(text, kSource, "/fuzz/plugins");
    if (!m) {
        HB_FUZZ_CHECK(names_file_line_column(m.error().message), m.error().message);
        return 0;
    }
    std::set<std::string> names;
    for (const auto& t : m->tasks) {
        HB_FUZZ_CHECK(!t.name.empty() && names.insert(t.name).second, "task name '" + t.name + "'");
        HB_FUZZ_CHECK(t.plugin.size() > 3 && t.plugin.ends_with(".so") && t.plugin.find('/') == std::string::npos,
                      "plugin '" + t.plugin + "'");
        if (t.schedule) HB_FUZZ_CHECK(hb::CalendarSpec::parse(*t.schedule).has_value(), *t.schedule);
        HB_FUZZ_CHECK(!(t.schedule && t.every), "schedule and every");
        if (t.timeout) HB_FUZZ_CHECK(t.timeout->count() > 0, "timeout");
    }
    HB_FUZZ_CHECK(m->settings.plugins_dir.is_absolute(), m->settings.plugins_dir.string());
    return 0;
}
