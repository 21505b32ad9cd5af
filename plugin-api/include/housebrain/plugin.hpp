// housebrain/plugin.hpp: header-only C++ helper over housebrain/plugin.h.
//
// A C++ plugin is a class with a `run(housebrain::Context&)` member and one macro:
//
//   #include <housebrain/plugin.hpp>
//   class Hello {
//   public:
//       void run(housebrain::Context& ctx) {
//           auto cfg = ctx.config();
//           cfg.allow_only({"greeting"});                 // unknown keys fail the task
//           ctx.info(cfg.string_or("greeting", "hello"));
//       }
//   };
//   HOUSEBRAIN_PLUGIN(Hello, "hello", "1.0.0", "says hello", /*timeout_sec*/ 0, /*schedule*/ nullptr)
//
// run() may return void (success unless it throws) or hb_status. Any exception leaving run() becomes
// HB_STATUS_FAILED with the exception's message; none crosses the C boundary. The class is
// default-constructed inside run, after the host has forked the task's process.
#ifndef HOUSEBRAIN_PLUGIN_HPP
#define HOUSEBRAIN_PLUGIN_HPP

#include <housebrain/plugin.h>

#include <cstdint>
#include <exception>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace housebrain {

// Thrown by Config accessors; its message names the offending key. Fails the task.
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A view of the task's [config] table (or a table inside it). Borrowed from the host: valid only
// during run().
class Config {
public:
    Config(const hb_host_services* host, std::string prefix) : host_(host), prefix_(std::move(prefix)) {}

    [[nodiscard]] std::string path(std::string_view key) const {
        if (prefix_.empty()) return std::string(key);
        return prefix_ + "." + std::string(key);
    }
    [[nodiscard]] int32_t type(std::string_view key) const { return host_->config_type(host_, path(key).c_str()); }
    [[nodiscard]] bool has(std::string_view key) const { return type(key) != HB_CONFIG_NONE; }

    // Keys of this table, in manifest order.
    [[nodiscard]] std::vector<std::string> keys() const {
        std::vector<std::string> out;
        for (int64_t i = 0;; ++i) {
            const char* k = host_->config_key(host_, prefix_.c_str(), i);
            if (k == nullptr) break;
            out.emplace_back(k);
        }
        return out;
    }

    // Throws ConfigError naming the first key of this table that is not in `allowed`.
    void allow_only(std::initializer_list<std::string_view> allowed) const {
        for (const auto& k : keys()) {
            bool ok = false;
            for (auto a : allowed) ok = ok || (a == k);
            if (!ok) throw ConfigError("unknown config key '" + path(k) + "'");
        }
    }

    [[nodiscard]] std::string string(std::string_view key) const {
        expect(key, HB_CONFIG_STRING, "a string");
        return host_->config_string(host_, path(key).c_str());
    }
    [[nodiscard]] std::string string_or(std::string_view key, std::string fallback) const {
        return has(key) ? string(key) : fallback;
    }
    [[nodiscard]] int64_t integer(std::string_view key) const {
        expect(key, HB_CONFIG_INT, "an integer");
        int64_t v = 0;
        host_->config_int(host_, path(key).c_str(), &v);
        return v;
    }
    [[nodiscard]] int64_t integer_or(std::string_view key, int64_t fallback) const {
        return has(key) ? integer(key) : fallback;
    }
    [[nodiscard]] double number(std::string_view key) const {
        double v = 0;
        if (host_->config_float(host_, path(key).c_str(), &v) == 0) {
            if (!has(key)) throw ConfigError("missing config key '" + path(key) + "'");
            throw ConfigError("config key '" + path(key) + "' must be a number");
        }
        return v;
    }
    [[nodiscard]] bool boolean(std::string_view key) const {
        expect(key, HB_CONFIG_BOOL, "a boolean");
        int32_t v = 0;
        host_->config_bool(host_, path(key).c_str(), &v);
        return v != 0;
    }
    [[nodiscard]] bool boolean_or(std::string_view key, bool fallback) const {
        return has(key) ? boolean(key) : fallback;
    }
    // An array of strings; a single string is accepted as a one-element list.
    [[nodiscard]] std::vector<std::string> strings(std::string_view key) const {
        if (type(key) == HB_CONFIG_STRING) return {string(key)};
        expect(key, HB_CONFIG_ARRAY, "an array of strings");
        std::vector<std::string> out;
        const int64_t n = host_->config_length(host_, path(key).c_str());
        for (int64_t i = 0; i < n; ++i) {
            const std::string item = path(key) + "." + std::to_string(i);
            if (host_->config_type(host_, item.c_str()) != HB_CONFIG_STRING)
                throw ConfigError("config key '" + item + "' must be a string");
            out.emplace_back(host_->config_string(host_, item.c_str()));
        }
        return out;
    }
    [[nodiscard]] std::vector<std::string> strings_or(std::string_view key, std::vector<std::string> fallback) const {
        return has(key) ? strings(key) : fallback;
    }
    [[nodiscard]] Config table(std::string_view key) const {
        expect(key, HB_CONFIG_TABLE, "a table");
        return Config(host_, path(key));
    }

private:
    void expect(std::string_view key, int32_t want, const char* what) const {
        const int32_t t = type(key);
        if (t == HB_CONFIG_NONE) throw ConfigError("missing config key '" + path(key) + "'");
        if (t != want) throw ConfigError("config key '" + path(key) + "' must be " + what);
    }

    const hb_host_services* host_;
    std::string prefix_;
};

// What run() receives: the host's services in C++ dress. Borrowed; valid only during run().
class Context {
public:
    explicit Context(const hb_host_services* host) : host_(host) {}

    [[nodiscard]] const hb_host_services* raw() const { return host_; }
    [[nodiscard]] std::string_view task_name() const { return host_->task_name; }
    [[nodiscard]] std::string_view run_id() const { return host_->run_id; }
    [[nodiscard]] std::string task_dir() const { return host_->task_dir; }
    [[nodiscard]] int64_t deadline_unix_ms() const { return host_->deadline_unix_ms; }
    [[nodiscard]] bool should_stop() const { return host_->should_stop(host_) != 0; }
    [[nodiscard]] Config config() const { return Config(host_, ""); }

    void log(int32_t level, const std::string& message) const { host_->log(host_, level, message.c_str()); }
    void debug(const std::string& m) const { log(HB_LOG_DEBUG, m); }
    void info(const std::string& m) const { log(HB_LOG_INFO, m); }
    void warning(const std::string& m) const { log(HB_LOG_WARNING, m); }
    void error(const std::string& m) const { log(HB_LOG_ERROR, m); }
    void set_error(const std::string& m) const { host_->set_error(host_, m.c_str()); }

private:
    const hb_host_services* host_;
};

// Thrown to fail a task with a message (any std::exception works the same way).
class TaskError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {

template <class Plugin>
hb_status run_trampoline(const hb_host_services* host) noexcept {
    try {
        Context ctx(host);
        Plugin plugin;
        if constexpr (std::is_void_v<decltype(plugin.run(ctx))>) {
            plugin.run(ctx);
            return HB_STATUS_OK;
        } else {
            return static_cast<hb_status>(plugin.run(ctx));
        }
    } catch (const std::exception& e) {
        host->set_error(host, e.what());
    } catch (...) {
        host->set_error(host, "unknown C++ exception");
    }
    return HB_STATUS_FAILED;
}

}  // namespace detail
}  // namespace housebrain

// Defines the descriptor and the exported entry function for class `Class`.
#define HOUSEBRAIN_PLUGIN(Class, name, version, description, default_timeout_sec, default_schedule)  \
    HB_PLUGIN_ENTRY(hb_host_abi_version_, hb_plugin_abi_version_) {                                   \
        static const hb_plugin_descriptor hb_descriptor_ = {                                          \
            sizeof(hb_plugin_descriptor), HB_ABI_VERSION, (name), (version), (description),          \
            (default_timeout_sec), (default_schedule), &::housebrain::detail::run_trampoline<Class>}; \
        *hb_plugin_abi_version_ = HB_ABI_VERSION;                                                     \
        if (HB_ABI_VERSION_GET_MAJOR(hb_host_abi_version_) != HB_ABI_VERSION_MAJOR) return nullptr;   \
        return &hb_descriptor_;                                                                       \
    }

#endif  // HOUSEBRAIN_PLUGIN_HPP
