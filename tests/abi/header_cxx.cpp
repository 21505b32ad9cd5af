// The ABI header and the C++ helper must compile as C++ (17 and 23) with every warning an error.
#include <housebrain/plugin.h>
#include <housebrain/plugin.hpp>

#include <type_traits>

static_assert(std::is_standard_layout_v<hb_plugin_descriptor>);
static_assert(std::is_standard_layout_v<hb_host_services>);
static_assert(std::is_trivially_copyable_v<hb_plugin_descriptor>);

class Probe {
public:
    hb_status run(housebrain::Context& ctx) {
        auto cfg = ctx.config();
        cfg.allow_only({"a", "b"});
        if (cfg.integer_or("a", 1) < 0) throw housebrain::TaskError("a must not be negative");
        ctx.debug(cfg.string_or("b", "x"));
        return ctx.should_stop() ? HB_STATUS_CANCELLED : HB_STATUS_OK;
    }
};
HOUSEBRAIN_PLUGIN(Probe, "probe", "1.0", "compile test", 0, nullptr)
