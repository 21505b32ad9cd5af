/* mapped_probe PLUGIN.so READY_FILE GO_FILE
 *
 * Plays a host task that has a plugin loaded while someone replaces the plugin file: dlopen()s
 * PLUGIN.so, calls its entry and prints "before: NAME VERSION", creates READY_FILE, waits (at most
 * 120 s) for GO_FILE to appear, then calls the entry again, reads the descriptor's strings and
 * prints "after: NAME VERSION". If the file was overwritten in place, the process sees the new
 * bytes through its mapping ("after" differs from "before") or dies of SIGBUS/SIGSEGV; after an
 * atomic replace (rename), it still sees the old file. */
#define _POSIX_C_SOURCE 200809L

#include <housebrain/plugin.h>

#include <dlfcn.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

static const hb_plugin_descriptor *call_entry(hb_plugin_entry_fn entry) {
    uint32_t plugin_version = 0;
    const hb_plugin_descriptor *d = entry(HB_ABI_VERSION, &plugin_version);
    if (d == NULL) {
        fprintf(stderr, "mapped_probe: the entry returned NULL\n");
    }
    return d;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: mapped_probe PLUGIN.so READY_FILE GO_FILE\n");
        return 2;
    }
    void *handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        fprintf(stderr, "mapped_probe: %s\n", dlerror());
        return 2;
    }
    hb_plugin_entry_fn entry;
    *(void **)&entry = dlsym(handle, HB_PLUGIN_ENTRY_SYMBOL);
    if (entry == NULL) {
        fprintf(stderr, "mapped_probe: no %s in %s\n", HB_PLUGIN_ENTRY_SYMBOL, argv[1]);
        return 2;
    }
    const hb_plugin_descriptor *d = call_entry(entry);
    if (d == NULL) return 2;
    printf("before: %s %s\n", d->name, d->version);
    fflush(stdout);

    FILE *ready = fopen(argv[2], "w");
    if (ready == NULL || fclose(ready) != 0) {
        perror("mapped_probe: READY_FILE");
        return 2;
    }
    struct stat st;
    const struct timespec tick = {0, 20 * 1000 * 1000};
    int waited = 0;
    while (stat(argv[3], &st) != 0) {
        if (++waited > 6000) {
            fprintf(stderr, "mapped_probe: GO_FILE never appeared\n");
            return 2;
        }
        nanosleep(&tick, NULL);
    }

    d = call_entry(entry);
    if (d == NULL) return 2;
    printf("after: %s %s\n", d->name, d->version);
    return 0;
}
