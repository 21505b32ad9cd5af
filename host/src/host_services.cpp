#include "host_services.h"

#include <chrono>

namespace hb {

namespace {
constexpr size_t kMaxMessage = 16 * 1024;

std::string_view cut(const char* s) {
    if (s == nullptr) return {};
    std::string_view v(s);
    return v.size() > kMaxMessage ? v.substr(0, kMaxMessage) : v;
}
}  // namespace

HostServices::HostServices(const ConfigValue& config, std::string task_name, std::string run_id,
                           std::string task_dir, int64_t deadline_unix_ms, ServicesSink& sink)
    : config_(config),
      task_name_(std::move(task_name)),
      run_id_(std::move(run_id)),
      task_dir_(std::move(task_dir)),
      sink_(sink) {
    table_.struct_size = sizeof(hb_host_services);
    table_.abi_version = HB_ABI_VERSION;
    table_.host_data = this;
    table_.task_name = task_name_.c_str();
    table_.run_id = run_id_.c_str();
    table_.task_dir = task_dir_.c_str();
    table_.deadline_unix_ms = deadline_unix_ms;

    table_.log = [](const hb_host_services* h, int32_t level, const char* message) {
        self(h).sink_.log(level, cut(message));
    };
    table_.set_error = [](const hb_host_services* h, const char* message) { self(h).sink_.set_error(cut(message)); };
    table_.should_stop = [](const hb_host_services* h) -> int32_t {
        auto& s = self(h);
        if (s.sink_.should_stop()) return 1;
        if (h->deadline_unix_ms == 0) return 0;
        const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        return now >= h->deadline_unix_ms ? 1 : 0;
    };
    table_.config_type = [](const hb_host_services* h, const char* path) -> int32_t {
        const ConfigValue* v = config_lookup(self(h).config_, path ? path : "");
        return v ? v->type() : HB_CONFIG_NONE;
    };
    table_.config_string = [](const hb_host_services* h, const char* path) -> const char* {
        const ConfigValue* v = config_lookup(self(h).config_, path ? path : "");
        std::string text;
        if (v == nullptr || !v->scalar_text(text)) return nullptr;
        return self(h).keep(std::move(text));
    };
    table_.config_int = [](const hb_host_services* h, const char* path, int64_t* out) -> int32_t {
        const ConfigValue* v = config_lookup(self(h).config_, path ? path : "");
        const auto* i = v ? std::get_if<int64_t>(&v->v) : nullptr;
        if (i == nullptr || out == nullptr) return 0;
        *out = *i;
        return 1;
    };
    table_.config_float = [](const hb_host_services* h, const char* path, double* out) -> int32_t {
        const ConfigValue* v = config_lookup(self(h).config_, path ? path : "");
        if (v == nullptr || out == nullptr) return 0;
        if (const auto* d = std::get_if<double>(&v->v)) {
            *out = *d;
            return 1;
        }
        if (const auto* i = std::get_if<int64_t>(&v->v)) {
            *out = static_cast<double>(*i);
            return 1;
        }
        return 0;
    };
    table_.config_bool = [](const hb_host_services* h, const char* path, int32_t* out) -> int32_t {
        const ConfigValue* v = config_lookup(self(h).config_, path ? path : "");
        const auto* b = v ? std::get_if<bool>(&v->v) : nullptr;
        if (b == nullptr || out == nullptr) return 0;
        *out = *b ? 1 : 0;
        return 1;
    };
    table_.config_length = [](const hb_host_services* h, const char* path) -> int64_t {
        const ConfigValue* v = config_lookup(self(h).config_, path ? path : "");
        if (v == nullptr) return -1;
        if (const auto* a = v->array()) return static_cast<int64_t>(a->size());
        if (const auto* t = v->table()) return static_cast<int64_t>(t->size());
        return -1;
    };
    table_.config_key = [](const hb_host_services* h, const char* path, int64_t index) -> const char* {
        const ConfigValue* v = config_lookup(self(h).config_, path ? path : "");
        const ConfigTable* t = v ? v->table() : nullptr;
        if (t == nullptr || index < 0 || static_cast<size_t>(index) >= t->size()) return nullptr;
        return (*t)[static_cast<size_t>(index)].first.c_str();
    };
}

const char* HostServices::keep(std::string s) {
    arena_.push_back(std::move(s));
    return arena_.back().c_str();
}

}  // namespace hb
