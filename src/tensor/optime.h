/* optime.h -- where the compute ops' wall time goes, by kind of kernel.
 *
 * Every oneDNN execution (dnn_exec) is timed under its primitive's kind, and our own
 * kernels (fused attention, channels-last group norm) under theirs. A benchmark reads
 * the totals around a model call: the call's time minus their sum is the glue between
 * kernels (argument checks, primitive lookups, arena carving, the layer code itself),
 * which one thread runs while the others wait. A reading costs one clock call, so it is
 * always on; plan mode (ops.h) adds nothing, as nothing runs.
 */
#ifndef CI_OPTIME_H
#define CI_OPTIME_H

#include <stdint.h>

typedef enum {
    OT_CONV, OT_MATMUL, OT_NORM, OT_ELTWISE, OT_REORDER, OT_OTHER_PRIM,   /* oneDNN */
    OT_ATTENTION, OT_GROUP_NORM,                                         /* ours */
    OT_KINDS
} optime_kind;

uint64_t optime_start(void);                    /* a monotonic clock, ns */
void optime_add(optime_kind k, uint64_t start);  /* adds now - start under k */
/* Seconds spent under each kind since the process started (OT_KINDS values). */
void optime_read(double *seconds);
const char *optime_name(optime_kind k);          /* "conv", "matmul", ... */

#endif
