/* A plugin built by the SDK tests outside the source tree, with the installed SDK only.
 * Appends "PROBE_TAG c TASK 42" to the file named by config key `marker`. */
#include <housebrain/plugin.h>

#include <stdio.h>

#ifndef PROBE_TAG
#define PROBE_TAG "probe"
#endif

/* Not static on purpose: the SDK's version script must keep it out of the dynamic symbols. */
int sdk_probe_internal(int x);
int sdk_probe_internal(int x) { return x + 1; }

static hb_status run(const hb_host_services *host) {
    const char *marker = host->config_string(host, "marker");
    if (marker == NULL) {
        host->set_error(host, "config key 'marker' is missing");
        return HB_STATUS_FAILED;
    }
    FILE *f = fopen(marker, "a");
    if (f == NULL) {
        host->set_error(host, "cannot open the marker file");
        return HB_STATUS_FAILED;
    }
    fprintf(f, "%s c %s %d\n", PROBE_TAG, host->task_name, sdk_probe_internal(41));
    return fclose(f) == 0 ? HB_STATUS_OK : HB_STATUS_FAILED;
}

static const hb_plugin_descriptor descriptor = {sizeof(hb_plugin_descriptor), HB_ABI_VERSION, "sdk_probe", PROBE_TAG,
                                                "SDK test probe (C)", 0, NULL, run};

HB_PLUGIN_ENTRY(host_abi_version, plugin_abi_version) {
    *plugin_abi_version = HB_ABI_VERSION;
    if (HB_ABI_VERSION_GET_MAJOR(host_abi_version) != HB_ABI_VERSION_MAJOR) return NULL;
    return &descriptor;
}
