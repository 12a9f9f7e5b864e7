/* flash_attn.h -- fused (flash) scaled-dot-product attention, for ops_attention.c.
 *
 * softmax(q k^T / sqrt(D) + mask) v without materializing the (Lq, Lk) score matrix:
 * each thread takes (b, h, block of FLASH_BQ queries), walks the keys in blocks of at
 * most FLASH_BK and keeps per query row a running max m and sum l (online softmax);
 * when a block raises m the accumulator is rescaled by exp(m_old - m_new). Only a
 * (FLASH_BQ x FLASH_BK) tile of scores exists per thread, on its stack. A query row
 * whose keys are all masked out (-inf) gives zeros, where the primitive path gives NaN.
 *
 * Three implementations, chosen once from CPUID (and the OS's consent for AMX):
 *   FLASH_AMX     bf16: q k^T and p v on AMX tiles (tdpbf16ps), f32 softmax on AVX-512
 *   FLASH_AVX512  f32 math on AVX-512 (bf16 inputs are widened when K and V are packed)
 *   FLASH_C       the same algorithm in plain C, for any CPU
 * f32 never takes AMX (it has no f32 tiles), so f32 runs FLASH_AVX512 on AMX machines.
 */
#ifndef CI_FLASH_ATTN_H
#define CI_FLASH_ATTN_H

#include "tensor/ops_internal.h"

#define FLASH_MAX_D 256   /* the per-thread tiles are sized for heads up to this */

typedef enum { FLASH_C, FLASH_AVX512, FLASH_AMX } flash_isa;

typedef struct flash_args {
    dtype dt;                 /* DT_F32 or DT_BF16: q, k, v and y */
    int64_t B, H, D, Lq, Lk;  /* Lk >= 1 */
    const void *q, *k, *v;    /* packed (B, L, H*D) */
    const float *mask;        /* additive (Lq, Lk), or NULL */
    void *y;                  /* (B, Lq, H*D) */
} flash_args;

/* Whether the fused kernel takes this compute dtype and head size. */
int flash_supported(dtype dt, int64_t D);
/* y = attention; K and V are repacked into s. 0, or -1 when s is out of memory. */
int flash_attention(const flash_args *a, scratch *s);

/* The best implementation this CPU and OS can run. */
flash_isa flash_isa_best(void);
/* Tests: run isa from now on (flash_isa_best() restores the default). -1 when this
 * machine cannot run it. */
int flash_force_isa(flash_isa isa);

#endif
