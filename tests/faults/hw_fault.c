/* Dies of a real hardware fault inside run(), not a raise(): config `fault` = "FPE" (integer
 * division by zero), "ILL" (an undefined instruction) or "BUS" (touching a mapped page past the end
 * of a truncated file). Writes `<task_dir>/armed` first, so a test knows run() was reached. */
#include <housebrain/plugin.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The sanitizer build must not turn the division into a UBSan report: the point is the trap. */
__attribute__((no_sanitize_undefined)) static int divide(volatile int a, volatile int b) { return a / b; }

static hb_status run(const hb_host_services *host) {
    const char *fault = host->config_string(host, "fault");
    char path[4096];
    FILE *f;
    snprintf(path, sizeof path, "%s/armed", host->task_dir);
    f = fopen(path, "w");
    if (f) fclose(f);
    if (fault == NULL) fault = "FPE";
    if (strcmp(fault, "FPE") == 0) {
        host->set_error(host, divide(1, 0) ? "division survived" : "division returned 0");
    } else if (strcmp(fault, "ILL") == 0) {
        __builtin_trap();
    } else if (strcmp(fault, "BUS") == 0) {
        volatile char *p;
        int fd;
        snprintf(path, sizeof path, "%s/bus", host->task_dir);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || ftruncate(fd, 4096) != 0) return HB_STATUS_FAILED;
        p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED || ftruncate(fd, 0) != 0) return HB_STATUS_FAILED;
        p[0] = 1; /* the page no longer has a file behind it: SIGBUS */
    }
    return HB_STATUS_FAILED;
}
static const hb_plugin_descriptor descriptor = {sizeof(hb_plugin_descriptor), HB_ABI_VERSION, "hw_fault", "1.0",
                                                "dies of a hardware fault", 0, NULL, run};
HB_PLUGIN_ENTRY(host_version, plugin_version) {
    (void)host_version;
    *plugin_version = HB_ABI_VERSION;
    return &descriptor;
}
