// A C++ plugin built by the SDK tests outside the source tree, with the installed SDK only.
// Appends "PROBE_TAG cpp TASK 42" to the file named by config key `marker`.
#include <housebrain/plugin.hpp>

#include <fstream>

#ifndef PROBE_TAG
#define PROBE_TAG "probe"
#endif

// Not static on purpose: hidden visibility and the version script must keep it private.
int sdk_probe_internal_cpp(int x);
int sdk_probe_internal_cpp(int x) { return x + 1; }

class SdkProbe {
public:
    void run(housebrain::Context& ctx) {
        const auto cfg = ctx.config();
        cfg.allow_only({"marker"});
        std::ofstream out(cfg.string("marker"), std::ios::app);
        out << PROBE_TAG << " cpp " << ctx.task_name() << ' ' << sdk_probe_internal_cpp(41) << '\n';
        if (!out) throw housebrain::TaskError("cannot write the marker file");
    }
};
HOUSEBRAIN_PLUGIN(SdkProbe, "sdk_probe_cpp", PROBE_TAG, "SDK test probe (C++)", 0, nullptr)
