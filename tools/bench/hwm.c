/*
 * Peak RSS probe, preloaded into the measured process (LD_PRELOAD=bench_hwm.so). At exit it copies
 * the VmHWM line of /proc/self/status (the kernel's high-water mark of this process's resident set,
 * excluding its children) to the file named by HB_BENCH_HWM_OUT, followed by the line
 * "SelfCPU: <microseconds>": user+system CPU of the process itself, without its children (the
 * driver gets the total from wait4, so the children's share is the difference).
 *
 * Why not something outside the process: RUSAGE_CHILDREN / wait4 maxrss is the maximum over the
 * process and all its reaped descendants (a forked child inherits the parent's resident pages, so
 * it is not the host's own figure); polling /proc/PID/status from a wrapper can miss a peak in the
 * last interval, and the status file of a zombie no longer has VmHWM; ptrace with
 * PTRACE_O_TRACEEXIT would stop the host at every SIGCHLD. A destructor of a preloaded library runs
 * after main() returns and exit() runs the other destructors, so it sees the whole run. Forked
 * children leave with _exit() and never run it. It costs the process one small mapping.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((destructor)) static void hb_bench_report_hwm(void) {
    const char *out = getenv("HB_BENCH_HWM_OUT");
    if (out == NULL || *out == '\0') return;
    char buf[4096];
    const int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    const ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return;
    buf[n] = '\0';
    const char *line = strstr(buf, "VmHWM:");
    if (line == NULL) return;
    const char *end = strchr(line, '\n');
    const size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
    struct rusage self;
    char cpu[64] = "";
    if (getrusage(RUSAGE_SELF, &self) == 0) {
        const long long us = (long long)(self.ru_utime.tv_sec + self.ru_stime.tv_sec) * 1000000LL +
                             self.ru_utime.tv_usec + self.ru_stime.tv_usec;
        snprintf(cpu, sizeof cpu, "SelfCPU: %lld\n", us);
    }
    const int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o < 0) return;
    if (write(o, line, len) < 0 || write(o, cpu, strlen(cpu)) < 0) {
        /* nothing to do: the driver reports the figure as missing */
    }
    close(o);
}
