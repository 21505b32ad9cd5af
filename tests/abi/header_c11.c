/* The ABI header must compile as strict C11 with every warning an error, and describe a complete
 * plugin. Also checks the layout promises the header makes. */
#include <housebrain/plugin.h>
#include <stddef.h>

_Static_assert(offsetof(hb_plugin_descriptor, struct_size) == 0, "struct_size comes first");
_Static_assert(offsetof(hb_plugin_descriptor, abi_version) == 4, "abi_version comes second");
_Static_assert(offsetof(hb_host_services, struct_size) == 0, "struct_size comes first");
_Static_assert(offsetof(hb_host_services, abi_version) == 4, "abi_version comes second");
_Static_assert(sizeof(hb_status) == 4, "status is int32_t");
_Static_assert(HB_ABI_VERSION_GET_MAJOR(HB_ABI_VERSION) == HB_ABI_VERSION_MAJOR, "version packing");
_Static_assert(HB_ABI_VERSION_GET_MINOR(HB_ABI_MAKE_VERSION(3, 7)) == 7, "version packing");

static hb_status run(const hb_host_services *host) {
    int64_t n = 0;
    if (host->config_int(host, "n", &n) && n < 0) {
        host->set_error(host, "n must not be negative");
        return HB_STATUS_FAILED;
    }
    host->log(host, HB_LOG_INFO, host->task_name);
    return host->should_stop(host) ? HB_STATUS_CANCELLED : HB_STATUS_OK;
}

static const hb_plugin_descriptor descriptor = {sizeof(hb_plugin_descriptor), HB_ABI_VERSION, "c11", "1.0", NULL,
                                                0, NULL, run};

HB_PLUGIN_ENTRY(host_version, plugin_version) {
    *plugin_version = HB_ABI_VERSION;
    if (HB_ABI_VERSION_GET_MAJOR(host_version) != HB_ABI_VERSION_MAJOR) return NULL;
    return &descriptor;
}
