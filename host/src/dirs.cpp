#include "dirs.h"

#include <sys/stat.h>

#include <cerrno>
#include <system_error>

namespace hb {

std::string errno_text(int e) { return std::error_code(e, std::generic_category()).message(); }

Result<void> make_private_dirs(const std::filesystem::path& dir) {
    std::filesystem::path cur;
    for (const auto& part : dir) {
        cur /= part;
        if (::mkdir(cur.c_str(), 0750) == 0) continue;
        const int e = errno;
        struct stat st {};
        if (e == EEXIST && ::stat(cur.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
        // "<dir>: <reason>", naming the component too when it is a parent of <dir>.
        const std::string where = cur == dir ? dir.string() : dir.string() + ": " + cur.string();
        if (e == EEXIST) return fail(where + " exists and is not a directory");
        return fail(where + ": " + errno_text(e));
    }
    return {};
}

}  // namespace hb
