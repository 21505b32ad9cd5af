/* hb_mdwe_exec PROGRAM ARGS...: turns on the kernel's MemoryDenyWriteExecute for this process and
 * its descendants (prctl PR_SET_MDWE, Linux 6.3+: no mapping may become executable after being
 * writable, as systemd's MemoryDenyWriteExecute= enforces with seccomp), then execs PROGRAM.
 * Exits 77 when the kernel lacks PR_SET_MDWE, so a test can skip saying why. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#endif
#ifndef PR_MDWE_REFUSE_EXEC_GAIN
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: hb_mdwe_exec PROGRAM [ARGS...]\n");
        return 2;
    }
    if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0L, 0L, 0L) != 0) {
        fprintf(stderr, "hb_mdwe_exec: prctl(PR_SET_MDWE): %s\n", strerror(errno));
        return 77;
    }
    execv(argv[1], argv + 1);
    fprintf(stderr, "hb_mdwe_exec: %s: %s\n", argv[1], strerror(errno));
    return 127;
}
