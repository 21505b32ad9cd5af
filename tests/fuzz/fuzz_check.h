// Shared by the fuzz targets: an invariant that must hold for every input. A violation prints what
// broke and aborts, which libFuzzer reports as a finding (and a replay as a failed test).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#define HB_FUZZ_CHECK(cond, what)                                                                    \
    do {                                                                                             \
        if (!(cond)) {                                                                               \
            std::fprintf(stderr, "%s:%d: invariant failed: %s\n  %s\n", __FILE__, __LINE__, #cond,    \
                         std::string(what).c_str());                                                 \
            std::abort();                                                                            \
        }                                                                                            \
    } while (0)
