/* A task plugin that does nothing: the benchmark copies it N times under distinct names. */
#include <housebrain/plugin.h>
#include <stddef.h>

static hb_status run(const hb_host_services *host) {
    (void)host;
    return HB_STATUS_OK;
}

static const hb_plugin_descriptor descriptor = {
    sizeof(hb_plugin_descriptor), HB_ABI_VERSION, "bench_noop", "1.0", "does nothing (benchmark)", 0, NULL, run};

HB_PLUGIN_ENTRY(host_abi_version, plugin_abi_version) {
    *plugin_abi_version = HB_ABI_VERSION;
    if (HB_ABI_VERSION_GET_MAJOR(host_abi_version) != HB_ABI_VERSION_MAJOR) return NULL;
    return &descriptor;
}
