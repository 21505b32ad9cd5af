/*
 * heartbeat: writes the current time to a file, atomically, every time it runs.
 *
 * A monitor (a shell check, node_exporter's textfile collector, an uptime probe) can then tell
 * that the periodic runner is alive by the file's age or content. The file holds one line:
 *
 *     2024-05-01T12:00:00Z 1714564800
 *
 * (ISO 8601 UTC, a space, Unix seconds, a newline.)
 *
 * This plugin is also the example of a plugin written in plain C11 against housebrain/plugin.h
 * alone: no C++ helper, no host symbols. Copy it as a starting point. The pattern is:
 *   1. check the host's struct is large enough for the fields you use;
 *   2. validate the whole [config] table first, rejecting unknown keys, so a typo fails loudly;
 *   3. do the work, calling host->set_error() and returning HB_STATUS_FAILED on any failure;
 *   4. export one function, housebrain_plugin_entry, through HB_PLUGIN_ENTRY.
 *
 * Writing atomically: the new content goes to a temporary file in the same directory, which is
 * flushed to disk (fsync) and then renamed over the target. rename() within one filesystem is
 * atomic, so a reader sees either the old line or the new one, never a half-written file; the
 * final fsync of the directory makes the rename itself survive a power cut.
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp, fsync, gmtime_r, clock_gettime, O_DIRECTORY, O_CLOEXEC */

#include <housebrain/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__GNUC__) || defined(__clang__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* Formats a message and records it as the task's failure reason. The host copies the message, so
 * a stack buffer is fine. Returns HB_STATUS_FAILED so callers can `return fail(host, ...);`. */
PRINTF_LIKE(2, 3)
static hb_status fail(const hb_host_services *host, const char *format, ...) {
    char message[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    host->set_error(host, message);
    return HB_STATUS_FAILED;
}

/* Writes all of buf, retrying short writes and EINTR. 0 on success, -1 with errno set. */
static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Checks the [config] table: only "path" is allowed, and it must be an absolute file name. Returns
 * the path (owned by the host, valid until run() returns), or NULL after setting the error. */
static const char *read_config(const hb_host_services *host) {
    /* Every key of the table must be one we know: a typo must fail, not be ignored. */
    for (int64_t i = 0;; ++i) {
        const char *key = host->config_key(host, "", i);
        if (key == NULL) break;
        if (strcmp(key, "path") != 0) {
            fail(host, "unknown config key '%s' (heartbeat knows only 'path')", key);
            return NULL;
        }
    }

    int32_t type = host->config_type(host, "path");
    if (type == HB_CONFIG_NONE) {
        fail(host, "missing config key 'path'");
        return NULL;
    }
    if (type != HB_CONFIG_STRING) {
        fail(host, "config key 'path' must be a string");
        return NULL;
    }
    const char *path = host->config_string(host, "path");
    size_t len = strlen(path);
    if (len == 0 || path[0] != '/' || path[len - 1] == '/') {
        fail(host, "config key 'path' must be an absolute file name, not '%s'", path);
        return NULL;
    }
    if (len + 16 > PATH_MAX) {
        fail(host, "config key 'path' is too long");
        return NULL;
    }
    return path;
}

/* Replaces the file at `path` by one holding `line`, atomically and durably. `dir` is the
 * directory part of `path`; `tmp` is a mkstemp() template in that directory (overwritten). */
static hb_status replace_file(const hb_host_services *host, const char *path, const char *dir, char *tmp,
                              const char *line) {
    int fd = mkstemp(tmp); /* a new file, mode 0600, that nobody else can have opened */
    if (fd < 0) return fail(host, "cannot create a temporary file in '%s': %s", dir, strerror(errno));

    /* A heartbeat is not secret: let monitors running as other users read it. */
    if (fchmod(fd, 0644) != 0 || write_all(fd, line, strlen(line)) != 0 || fsync(fd) != 0) {
        int err = errno;
        close(fd);
        unlink(tmp);
        return fail(host, "cannot write '%s': %s", tmp, strerror(err));
    }
    if (close(fd) != 0) { /* some filesystems (NFS) report write errors only here */
        int err = errno;
        unlink(tmp);
        return fail(host, "cannot write '%s': %s", tmp, strerror(err));
    }

    /* The atomic step. If `path` is a symlink, the link itself is replaced, never its target. */
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return fail(host, "cannot rename '%s' to '%s': %s", tmp, path, strerror(err));
    }

    /* Make the rename itself durable. The new file is in place even if this fails, but a power
     * cut could then bring back the old one, so it is reported. */
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) return fail(host, "cannot open directory '%s' to sync it: %s", dir, strerror(errno));
    if (fsync(dir_fd) != 0) {
        int err = errno;
        close(dir_fd);
        return fail(host, "cannot sync directory '%s': %s", dir, strerror(err));
    }
    close(dir_fd);
    return HB_STATUS_OK;
}

static hb_status run(const hb_host_services *host) {
    /* Every function pointer used here exists since ABI 1.0. A plugin that uses a field added by
     * a later minor version checks struct_size like this before touching it. */
    if (host->struct_size < offsetof(hb_host_services, config_key) + sizeof host->config_key) return HB_STATUS_FAILED;

    const char *path = read_config(host);
    if (path == NULL) return HB_STATUS_FAILED;

    /* The line: "2024-05-01T12:00:00Z 1714564800\n". */
    struct timespec now;
    struct tm utc;
    char stamp[32];
    char line[64];
    if (clock_gettime(CLOCK_REALTIME, &now) != 0 || gmtime_r(&now.tv_sec, &utc) == NULL ||
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc) == 0)
        return fail(host, "cannot read the clock: %s", strerror(errno));
    snprintf(line, sizeof line, "%s %lld\n", stamp, (long long)now.tv_sec);

    /* "/run/hb/beat" -> directory "/run/hb", temporary file "/run/hb/.beat.XXXXXX". */
    const char *base = strrchr(path, '/') + 1;
    int dir_len = (int)(base - path) - 1;
    char dir[PATH_MAX];
    char tmp[PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", dir_len > 0 ? dir_len : 1, path); /* "/" for a file in / */
    snprintf(tmp, sizeof tmp, "%.*s.%s.XXXXXX", (int)(base - path), path, base);

    hb_status status = replace_file(host, path, dir, tmp, line);
    if (status == HB_STATUS_OK) {
        /* Quiet when all is well: this may run every minute. */
        char message[PATH_MAX + 64];
        snprintf(message, sizeof message, "wrote %s to %s", stamp, path);
        host->log(host, HB_LOG_DEBUG, message);
    }
    return status;
}

/* The descriptor: static, so it outlives every call, as the ABI requires. */
static const hb_plugin_descriptor descriptor = {
    sizeof(hb_plugin_descriptor),
    HB_ABI_VERSION,
    "heartbeat",                                     /* name */
    "1.0.0",                                         /* version */
    "writes the current time to a file, atomically", /* description, shown by --list */
    10,                                              /* default timeout in seconds */
    NULL,                                            /* default schedule: every run of the host */
    run,
};

/* The only exported symbol. Always say which ABI we speak; decline a host of another major. */
HB_PLUGIN_ENTRY(host_abi_version, plugin_abi_version) {
    *plugin_abi_version = HB_ABI_VERSION;
    if (HB_ABI_VERSION_GET_MAJOR(host_abi_version) != HB_ABI_VERSION_MAJOR) return NULL;
    return &descriptor;
}
