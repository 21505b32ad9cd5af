/*
 * housebrain/plugin.h: the contract between housebrain-periodic and its task plugins.
 *
 * This header is the whole specification. A plugin is a shared object that exports exactly one
 * symbol, HB_PLUGIN_ENTRY_SYMBOL ("housebrain_plugin_entry"). It never links against host symbols:
 * everything the host offers reaches the plugin through the hb_host_services struct passed to run().
 *
 * Process model. The host never loads a plugin into its own process. For every load (discovery,
 * `--list`, `--check`) and every run, the host forks a child; the child dlopen()s the plugin, calls
 * the entry function, and, when running a task, calls descriptor->run() once and exits. A plugin may
 * therefore keep global state freely, crash without harming other tasks, and need not be
 * thread-safe: the host calls it from one thread only. The process ends with _exit() after run()
 * returns: the plugin is never unloaded, so its static destructors and atexit() handlers do not
 * run (C stdio buffers are flushed); close or flush what you opened before returning. The child's stdout and stderr are captured
 * and logged under the task's name; prefer hb_host_services.log, which carries a level.
 *
 * Versioning (in the spirit of the Vulkan loader's negotiation and LV2's struct sizes):
 *  - HB_ABI_VERSION packs MAJOR << 16 | MINOR. A major bump breaks compatibility; a minor bump only
 *    appends fields to the end of a struct or appends new constants.
 *  - The host offers the version it speaks; the plugin writes the version it was built against and
 *    returns its descriptor, or NULL to decline. The host refuses a plugin whose major differs from
 *    its own, naming both versions.
 *  - Every struct that crosses the boundary starts with `struct_size` (set to sizeof by the side
 *    that fills it) and `abi_version`. A reader never reads a field that lies past struct_size, so an
 *    older plugin and a newer host (or the reverse) agree on the common prefix.
 *
 * Memory. Nothing allocated on one side is freed on the other. Strings cross as borrowed
 * `const char *`, NUL-terminated UTF-8, with the lifetime written beside each field. No C++
 * exception may leave a function of this interface (the C++ helper in plugin.hpp enforces this).
 *
 * Types. Only fixed-width integers, pointers and function pointers; no C enums, no bitfields.
 */
#ifndef HOUSEBRAIN_PLUGIN_H
#define HOUSEBRAIN_PLUGIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Versions ------------------------------------------------------------------------------- */

#define HB_ABI_VERSION_MAJOR 1
#define HB_ABI_VERSION_MINOR 0
#define HB_ABI_MAKE_VERSION(major, minor) ((uint32_t)(((uint32_t)(major) << 16) | (uint32_t)(minor)))
#define HB_ABI_VERSION HB_ABI_MAKE_VERSION(HB_ABI_VERSION_MAJOR, HB_ABI_VERSION_MINOR)
#define HB_ABI_VERSION_GET_MAJOR(v) ((uint32_t)(v) >> 16)
#define HB_ABI_VERSION_GET_MINOR(v) ((uint32_t)(v) & 0xffffu)

/* ---- Status codes returned by run() ---------------------------------------------------------- */
/* Appended only, never renumbered. An unknown value is treated by the host as HB_STATUS_FAILED.   */

typedef int32_t hb_status;
#define HB_STATUS_OK 0        /* the task did its work */
#define HB_STATUS_FAILED 1    /* the task failed; set_error() says why */
#define HB_STATUS_CANCELLED 2 /* the task stopped early because should_stop() returned non-zero */

/* ---- Log levels for hb_host_services.log ----------------------------------------------------- */
/* Appended only. The host maps them to syslog priorities (debug 7, info 6, warning 4, error 3).  */

#define HB_LOG_DEBUG 0
#define HB_LOG_INFO 1
#define HB_LOG_WARNING 2
#define HB_LOG_ERROR 3

/* ---- Config value types returned by hb_host_services.config_type ----------------------------- */
/* Appended only. Values come from the task's [config] table in the manifest.                    */

#define HB_CONFIG_NONE 0   /* no value at that path */
#define HB_CONFIG_STRING 1
#define HB_CONFIG_INT 2
#define HB_CONFIG_FLOAT 3
#define HB_CONFIG_BOOL 4
#define HB_CONFIG_ARRAY 5
#define HB_CONFIG_TABLE 6
#define HB_CONFIG_DATETIME 7 /* readable with config_string (RFC 3339 text) */

/*
 * Config paths. A path names a value inside the task's [config] table: keys are separated by '.',
 * and a segment made of digits indexes an array. "" is the [config] table itself.
 *   [config]                            path            value
 *   argv = ["python3", "manage.py"]     "argv"          array of 2
 *                                       "argv.1"        "manage.py"
 *   env = { DJANGO_DEBUG = "0" }        "env.DJANGO_DEBUG"  "0"
 * A key that itself contains '.' cannot be addressed; enumerate its table with config_key instead.
 */

/* ---- Host services ----------------------------------------------------------------------------- */

typedef struct hb_host_services hb_host_services;

/*
 * Filled by the host, passed to run(). Valid from the start of run() until run() returns; the
 * plugin must not keep the pointer (or any string it yields) past that. Every function takes the
 * struct itself first and may be called only from the thread that called run().
 */
struct hb_host_services {
    uint32_t struct_size; /* sizeof(hb_host_services) as the host built it */
    uint32_t abi_version; /* HB_ABI_VERSION of the host */

    /* Opaque to the plugin. Owned by the host. */
    void *host_data;

    /* Name of the task being run (the manifest's task name). Borrowed; valid during run(). */
    const char *task_name;

    /* Identifier of this run of the host; appears in the host's log and history. Borrowed. */
    const char *run_id;

    /* A directory the task may write to and that persists between runs (created by the host,
     * private to this task). Absolute path, borrowed, valid during run(). */
    const char *task_dir;

    /* Wall-clock deadline of this run in milliseconds since the Unix epoch; 0 means none. After
     * it, the host sends SIGTERM to the task's process group and SIGKILL after a grace period. */
    int64_t deadline_unix_ms;

    /*
     * Log one message at a level (HB_LOG_*). `message` is borrowed for the call only; the host
     * copies it. Newlines split it into several log lines. Messages longer than 16 KiB are cut.
     */
    void (*log)(const hb_host_services *host, int32_t level, const char *message);

    /*
     * Record the reason for a failure. The host copies `message`; a later call replaces an earlier
     * one. Shown as the task's outcome message when run() returns HB_STATUS_FAILED.
     */
    void (*set_error)(const hb_host_services *host, const char *message);

    /*
     * Non-zero once the task should stop: the deadline has passed, or the host is shutting down
     * (it received SIGTERM/SIGINT). Cheap; call it between units of work and return
     * HB_STATUS_CANCELLED when it is set.
     */
    int32_t (*should_stop)(const hb_host_services *host);

    /* Type (HB_CONFIG_*) of the value at `path`; HB_CONFIG_NONE when there is none. */
    int32_t (*config_type)(const hb_host_services *host, const char *path);

    /*
     * The value at `path` as a string: a string as is, a number or boolean in its TOML spelling,
     * a datetime as RFC 3339. NULL for an array, a table or a missing value. The returned string
     * is owned by the host and valid until run() returns.
     */
    const char *(*config_string)(const hb_host_services *host, const char *path);

    /* Integer at `path` into *out; returns 1 on success, 0 if missing or not an integer. */
    int32_t (*config_int)(const hb_host_services *host, const char *path, int64_t *out);

    /* Number (integer or float) at `path` into *out; returns 1 on success, 0 otherwise. */
    int32_t (*config_float)(const hb_host_services *host, const char *path, double *out);

    /* Boolean at `path` into *out (0 or 1); returns 1 on success, 0 otherwise. */
    int32_t (*config_bool)(const hb_host_services *host, const char *path, int32_t *out);

    /* Number of elements of the array or keys of the table at `path`; -1 for any other value. */
    int64_t (*config_length)(const hb_host_services *host, const char *path);

    /*
     * Name of the index-th key of the table at `path`, in manifest order; NULL past the end or if
     * `path` is not a table. Owned by the host, valid until run() returns. Plugins use this to
     * reject unknown keys: config_key(host, "", i) walks the [config] table itself.
     */
    const char *(*config_key)(const hb_host_services *host, const char *path, int64_t index);

    /* Fields appended by later minor versions go here; check struct_size before reading them. */
};

/* ---- Plugin descriptor ------------------------------------------------------------------------ */

/*
 * Filled by the plugin, returned by the entry function. The descriptor and every string it points
 * to are owned by the plugin and must stay valid until the process exits (a static object is the
 * usual choice).
 */
typedef struct hb_plugin_descriptor {
    uint32_t struct_size; /* sizeof(hb_plugin_descriptor) as the plugin built it */
    uint32_t abi_version; /* HB_ABI_VERSION the plugin was built against */

    const char *name;        /* short identifier, e.g. "retention"; required, non-empty */
    const char *version;     /* the plugin's own version, e.g. "1.2.0"; required */
    const char *description; /* one line for `--list`; may be NULL */

    /* Suggested defaults; the manifest overrides them. */
    uint32_t default_timeout_sec;  /* 0: use the manifest's default_timeout */
    const char *default_schedule;  /* systemd calendar expression, or NULL for every tick */

    /*
     * Do the task's work once. Called at most once per process, after the entry function. Returns
     * an HB_STATUS_* code; on HB_STATUS_FAILED call host->set_error first. Must not throw.
     */
    hb_status (*run)(const hb_host_services *host);

    /* Fields appended by later minor versions go here; the host checks struct_size. */
} hb_plugin_descriptor;

/* ---- Entry point ------------------------------------------------------------------------------ */

#define HB_PLUGIN_ENTRY_SYMBOL "housebrain_plugin_entry"

/*
 * The one function a plugin exports, under the name HB_PLUGIN_ENTRY_SYMBOL.
 *   host_abi_version     the HB_ABI_VERSION the host speaks.
 *   plugin_abi_version   out: the plugin writes the HB_ABI_VERSION it speaks, always, even when it
 *                        declines, so the host can say why.
 * Returns the plugin's descriptor, or NULL to decline the host's version. Called once per process.
 */
typedef const hb_plugin_descriptor *(*hb_plugin_entry_fn)(uint32_t host_abi_version,
                                                          uint32_t *plugin_abi_version);

#if defined(__GNUC__) || defined(__clang__)
#define HB_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define HB_PLUGIN_EXPORT
#endif

/*
 * Declares the entry function with the right linkage and visibility. A C plugin writes:
 *
 *   static hb_status run(const hb_host_services *host) { ...; return HB_STATUS_OK; }
 *   static const hb_plugin_descriptor descriptor = {
 *       sizeof(hb_plugin_descriptor), HB_ABI_VERSION, "hello", "1.0", "says hello", 0, NULL, run};
 *   HB_PLUGIN_ENTRY(host_abi_version, plugin_abi_version) {
 *       *plugin_abi_version = HB_ABI_VERSION;
 *       if (HB_ABI_VERSION_GET_MAJOR(host_abi_version) != HB_ABI_VERSION_MAJOR) return NULL;
 *       return &descriptor;
 *   }
 */
#ifdef __cplusplus
#define HB_PLUGIN_ENTRY(host_version, plugin_version)                                              \
    extern "C" HB_PLUGIN_EXPORT const hb_plugin_descriptor *housebrain_plugin_entry(               \
        uint32_t host_version, uint32_t *plugin_version)
#else
#define HB_PLUGIN_ENTRY(host_version, plugin_version)                                              \
    HB_PLUGIN_EXPORT const hb_plugin_descriptor *housebrain_plugin_entry(uint32_t host_version,    \
                                                                         uint32_t *plugin_version)
#endif

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* HOUSEBRAIN_PLUGIN_H */
