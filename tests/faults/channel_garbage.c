/* Writes bytes that are not a frame into its channel to the host (descriptor 3), then returns ok
 * through the normal path: the host must stop trusting the channel at the first bad frame and
 * report a protocol error, not the forged-looking success that follows. */
#include <housebrain/plugin.h>
#include <unistd.h>

static hb_status run(const hb_host_services *host) {
    static const char junk[] = "this is not a frame\n";
    (void)host;
    if (write(3, junk, sizeof junk - 1) < 0) return HB_STATUS_FAILED;
    return HB_STATUS_OK;
}
static const hb_plugin_descriptor descriptor = {sizeof(hb_plugin_descriptor), HB_ABI_VERSION, "channel_garbage",
                                                "1.0", "corrupts its channel", 0, NULL, run};
HB_PLUGIN_ENTRY(host_version, plugin_version) {
    (void)host_version;
    *plugin_version = HB_ABI_VERSION;
    return &descriptor;
}
