/* flops.c -- the op FLOP counter (flops.h).
 *
 * Kept as an integer so concurrent adds from worker threads are one atomic
 * instruction; 2^64 FLOPs is years of work at any speed this runs at.
 */
#include "tensor/flops.h"
#include "tensor/ops.h"

#include <stdint.h>

static uint64_t flops_count;

void flops_add(double n) {
    if (ops_planning()) return;   /* planned, not executed */
    __atomic_fetch_add(&flops_count, (uint64_t)n, __ATOMIC_RELAXED);
}

double flops_total(void) {
    return (double)__atomic_load_n(&flops_count, __ATOMIC_RELAXED);
}
