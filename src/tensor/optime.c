/* optime.c -- the per-kind kernel clock (optime.h). Atomic adds, as a kernel may be
 * called from any thread (two models on two workers). */
#include "tensor/optime.h"
#include "tensor/ops.h"

#include <time.h>

static uint64_t optime_ns[OT_KINDS];

uint64_t optime_start(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void optime_add(optime_kind k, uint64_t start) {
    if (ops_planning()) return;
    __atomic_fetch_add(&optime_ns[k], optime_start() - start, __ATOMIC_RELAXED);
}

void optime_read(double *seconds) {
    for (int k = 0; k < OT_KINDS; k++)
        seconds[k] = (double)__atomic_load_n(&optime_ns[k], __ATOMIC_RELAXED) / 1e9;
}

const char *optime_name(optime_kind k) {
    static const char *const names[OT_KINDS] = {"conv", "matmul", "norm", "eltwise", "reorder",
                                                "other_prim", "attention", "group_norm"};
    return k < OT_KINDS ? names[k] : "?";
}
