#include "config_value.h"

#include <housebrain/plugin.h>

#include <charconv>
#include <cstdio>

namespace hb {

int32_t ConfigValue::type() const {
    switch (v.index()) {
        case 1: return HB_CONFIG_STRING;
        case 2: return HB_CONFIG_INT;
        case 3: return HB_CONFIG_FLOAT;
        case 4: return HB_CONFIG_BOOL;
        case 5: return HB_CONFIG_DATETIME;
        case 6: return HB_CONFIG_ARRAY;
        case 7: return HB_CONFIG_TABLE;
        default: return HB_CONFIG_NONE;
    }
}

bool ConfigValue::scalar_text(std::string& out) const {
    if (auto* s = std::get_if<std::string>(&v)) {
        out = *s;
    } else if (auto* i = std::get_if<int64_t>(&v)) {
        out = std::to_string(*i);
    } else if (auto* d = std::get_if<double>(&v)) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.17g", *d);
        out = buf;
    } else if (auto* b = std::get_if<bool>(&v)) {
        out = *b ? "true" : "false";
    } else if (auto* t = std::get_if<ConfigDatetime>(&v)) {
        out = t->text;
    } else {
        return false;
    }
    return true;
}

const ConfigTable* ConfigValue::table() const {
    auto* p = std::get_if<std::shared_ptr<ConfigTable>>(&v);
    return p ? p->get() : nullptr;
}

const ConfigArray* ConfigValue::array() const {
    auto* p = std::get_if<std::shared_ptr<ConfigArray>>(&v);
    return p ? p->get() : nullptr;
}

const ConfigValue* config_lookup(const ConfigValue& root, std::string_view path) {
    const ConfigValue* cur = &root;
    while (!path.empty()) {
        const auto dot = path.find('.');
        const std::string_view seg = path.substr(0, dot);
        path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
        if (const ConfigTable* t = cur->table()) {
            const ConfigValue* next = nullptr;
            for (const auto& [k, val] : *t) {
                if (k == seg) {
                    next = &val;
                    break;
                }
            }
            if (next == nullptr) return nullptr;
            cur = next;
        } else if (const ConfigArray* a = cur->array()) {
            size_t idx = 0;
            auto [ptr, ec] = std::from_chars(seg.data(), seg.data() + seg.size(), idx);
            if (ec != std::errc{} || ptr != seg.data() + seg.size() || idx >= a->size()) return nullptr;
            cur = &(*a)[idx];
        } else {
            return nullptr;
        }
    }
    return cur;
}

}  // namespace hb
