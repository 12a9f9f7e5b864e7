/* flops.h -- a running count of the floating-point work the compute ops issue.
 *
 * Convolutions, linear layers and matrix products (attention included) add 2*MACs
 * when they run (not in plan mode, ops.h); memory-bound ops add nothing. The count is exact for what was
 * executed, so a benchmark reads it before and after a UNet call and divides by the
 * time to get achieved GFLOPS, with no separate FLOP model of each network.
 */
#ifndef CI_FLOPS_H
#define CI_FLOPS_H

void flops_add(double n);
double flops_total(void);   /* since start, all threads */

#endif
