// A task's [config] table, copied out of the manifest into plain C++ values so that the code which
// serves it to plugins (host_services) does not depend on the TOML library.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace hb {

struct ConfigValue;
using ConfigArray = std::vector<ConfigValue>;
using ConfigTable = std::vector<std::pair<std::string, ConfigValue>>;  // manifest order

// Datetime values keep their RFC 3339 text.
struct ConfigDatetime {
    std::string text;
};

struct ConfigValue {
    std::variant<std::monostate, std::string, int64_t, double, bool, ConfigDatetime,
                 std::shared_ptr<ConfigArray>, std::shared_ptr<ConfigTable>>
        v;

    // HB_CONFIG_* of this value.
    [[nodiscard]] int32_t type() const;
    // String form as documented for hb_host_services.config_string; empty optional for arrays/tables.
    [[nodiscard]] bool scalar_text(std::string& out) const;
    [[nodiscard]] const ConfigTable* table() const;
    [[nodiscard]] const ConfigArray* array() const;

    static ConfigValue make_table() { return ConfigValue{std::make_shared<ConfigTable>()}; }
};

// Value at a dotted path ("a.b.0"), or nullptr. "" is `root` itself.
const ConfigValue* config_lookup(const ConfigValue& root, std::string_view path);

}  // namespace hb
