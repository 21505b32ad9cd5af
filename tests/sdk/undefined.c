/* Calls a function that nothing defines: with the SDK's -Wl,--no-undefined the link must fail
 * (without it, the .so would link and fail only when the host loads it). */
#include <housebrain/plugin.h>

#include <stddef.h>

void sdk_nowhere_defined(void);

static hb_status run(const hb_host_services *host) {
    (void)host;
    sdk_nowhere_defined();
    return HB_STATUS_OK;
}
static const hb_plugin_descriptor descriptor = {sizeof(hb_plugin_descriptor), HB_ABI_VERSION, "sdk_undefined", "1",
                                                NULL, 0, NULL, run};
HB_PLUGIN_ENTRY(host_abi_version, plugin_abi_version) {
    (void)host_abi_version;
    *plugin_abi_version = HB_ABI_VERSION;
    return &descriptor;
}
