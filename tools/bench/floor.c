/*
 * The floor: the least work any crash-isolated plugin host can do per plugin. For each .so given
 * on the command line: fork a child that dlopen()s it, calls housebrain_plugin_entry, writes one
 * value (the descriptor's struct_size) to a pipe and exits; the parent reads the value and reaps
 * the child. No manifest, no state, no logging, no safety checks on the file.
 *
 *   bench_floor PLUGIN.so...           the floor for N plugins; prints "<ok> <failed>"
 *   bench_floor --drain PLUGIN.so      the child also calls run() with stub services, its stdout
 *                                      a pipe the parent reads and discards; prints the bytes read
 *
 * Exit status 0 when every child reported, 1 otherwise, 2 on usage errors.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <housebrain/plugin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void stub_log(const hb_host_services *h, int32_t level, const char *m) { (void)h, (void)level, (void)m; }
static void stub_set_error(const hb_host_services *h, const char *m) { (void)h, (void)m; }
static int32_t stub_should_stop(const hb_host_services *h) { return (void)h, 0; }
static int32_t stub_config_type(const hb_host_services *h, const char *p) { return (void)h, (void)p, HB_CONFIG_NONE; }
static const char *stub_config_string(const hb_host_services *h, const char *p) { return (void)h, (void)p, NULL; }
static int32_t stub_config_int(const hb_host_services *h, const char *p, int64_t *o) { return (void)h, (void)p, (void)o, 0; }
static int32_t stub_config_float(const hb_host_services *h, const char *p, double *o) { return (void)h, (void)p, (void)o, 0; }
static int32_t stub_config_bool(const hb_host_services *h, const char *p, int32_t *o) { return (void)h, (void)p, (void)o, 0; }
static int64_t stub_config_length(const hb_host_services *h, const char *p) { return (void)h, (void)p, -1; }
static const char *stub_config_key(const hb_host_services *h, const char *p, int64_t i) {
    return (void)h, (void)p, (void)i, NULL;
}

/* In the child: load, call the entry, optionally run; report one value on `fd`. */
static void child(const char *path, int fd, int run) {
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) _exit(3);
    void *sym = dlsym(lib, HB_PLUGIN_ENTRY_SYMBOL);
    if (sym == NULL) _exit(4);
    hb_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry); /* ISO C has no object-to-function pointer cast */
    uint32_t abi = 0;
    const hb_plugin_descriptor *d = entry(HB_ABI_VERSION, &abi);
    if (d == NULL) _exit(5);
    uint32_t value = d->struct_size;
    if (run) {
        hb_host_services s = {sizeof s, HB_ABI_VERSION, NULL, "floor", "floor", "/tmp", 0, stub_log,
                              stub_set_error, stub_should_stop, stub_config_type, stub_config_string,
                              stub_config_int, stub_config_float, stub_config_bool, stub_config_length,
                              stub_config_key};
        value = (uint32_t)d->run(&s);
    }
    if (write(fd, &value, sizeof value) != (ssize_t)sizeof value) _exit(6);
    _exit(0);
}

/* Runs one plugin in a child; returns 1 if it reported a value and exited 0. */
static int one(const char *path, int drain, unsigned long long *drained) {
    int chan[2], out[2] = {-1, -1};
    if (pipe2(chan, O_CLOEXEC) != 0) return perror("pipe"), 0;
    if (drain && pipe2(out, O_CLOEXEC) != 0) return perror("pipe"), 0;
    const pid_t pid = fork();
    if (pid < 0) return perror("fork"), 0;
    if (pid == 0) {
        close(chan[0]);
        if (drain) {
            if (dup2(out[1], 1) < 0) _exit(7);
        }
        child(path, chan[1], drain);
    }
    close(chan[1]);
    if (drain) {
        close(out[1]);
        static char buf[65536];
        ssize_t n;
        while ((n = read(out[0], buf, sizeof buf)) > 0) *drained += (unsigned long long)n;
        close(out[0]);
    }
    uint32_t value = 0;
    const ssize_t got = read(chan[0], &value, sizeof value);
    close(chan[0]);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return perror("waitpid"), 0;
    return got == (ssize_t)sizeof value && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(int argc, char **argv) {
    int drain = argc > 1 && strcmp(argv[1], "--drain") == 0;
    const int first = drain ? 2 : 1;
    if (argc <= first || (drain && argc != 3)) {
        fprintf(stderr, "usage: %s PLUGIN.so... | --drain PLUGIN.so\n", argv[0]);
        return 2;
    }
    int ok = 0, failed = 0;
    unsigned long long drained = 0;
    for (int i = first; i < argc; ++i) {
        if (one(argv[i], drain, &drained)) ++ok;
        else ++failed;
    }
    if (drain) printf("%llu\n", drained);
    else printf("%d %d\n", ok, failed);
    return failed ? 1 : 0;
}
