// The hb_host_services table a plugin's run() receives, built in the task's child process over the
// task's config and a sink that forwards logs and errors (to the host, through the channel).
#pragma once

#include <housebrain/plugin.h>

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "config_value.h"

namespace hb {

class ServicesSink {
public:
    virtual ~ServicesSink() = default;
    virtual void log(int32_t level, std::string_view message) = 0;
    virtual void set_error(std::string_view message) = 0;
    virtual bool should_stop() = 0;
};

class HostServices {
public:
    HostServices(const ConfigValue& config, std::string task_name, std::string run_id, std::string task_dir,
                 int64_t deadline_unix_ms, ServicesSink& sink);
    HostServices(const HostServices&) = delete;
    HostServices& operator=(const HostServices&) = delete;

    [[nodiscard]] const hb_host_services* table() const { return &table_; }

private:
    static HostServices& self(const hb_host_services* h) { return *static_cast<HostServices*>(h->host_data); }
    const char* keep(std::string s);

    const ConfigValue& config_;
    std::string task_name_, run_id_, task_dir_;
    ServicesSink& sink_;
    std::deque<std::string> arena_;  // strings handed to the plugin; live until run() returns
    hb_host_services table_{};
};

}  // namespace hb
