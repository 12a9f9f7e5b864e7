/* flash_internal.h -- what the fused attention implementations share.
 *
 * The per-block steps every implementation runs, for a block of query rows against a
 * block of keys: s = q k^T (raw dot products), then flash_sm (the online-softmax update
 * that turns s into probabilities p and rescales the accumulator o), then o += p v.
 * At the end y = o / l. Keys past Lk are padding: their scores count as -inf.
 */
#ifndef CI_FLASH_INTERNAL_H
#define CI_FLASH_INTERNAL_H

#include "tensor/flash_attn.h"

#define FLASH_BQ 32    /* query rows per block: two AMX tile rows */
#define FLASH_BK 256   /* keys per block, at most */

/* One online-softmax step over a (rows, nkp) block of raw scores. */
typedef struct flash_sm {
    float *s;               /* raw scores, row stride FLASH_BK; p written back here */
    int rows, nk, nkp;      /* valid query rows; valid keys; keys with padding */
    const float *mask;      /* the mask at (first row, first key), row stride mask_ld; or NULL */
    int64_t mask_ld;
    float scale;
    float *m, *l;           /* running max and sum per row (start -inf and 0); l may be
                             * NULL for the bf16 softmax (flash_softmax_bf16_rows), whose
                             * caller sums p itself (a ones column in v) */
    float *o;               /* accumulator rows (stride dv), rescaled by exp(m_old - m_new) */
    int64_t dv;
} flash_sm;

void flash_softmax_c(const flash_sm *b);
void flash_softmax_avx512(const flash_sm *b);
/* The same, p written as bf16 to pb (row stride FLASH_BK) instead of back into s, in two
 * parts: begin takes every row's new max (the scaled scores of a masked block are
 * written back into s), then rows does the exp pass and closes rows [r0, r1), so that
 * the caller can run other work between groups of rows. */
typedef struct flash_rows {
    float mx[FLASH_BQ], ref[FLASH_BQ], alpha[FLASH_BQ];   /* new max, exp reference, rescale */
} flash_rows;
void flash_softmax_bf16_begin(const flash_sm *b, flash_rows *st);
void flash_softmax_bf16_rows(const flash_sm *b, const flash_rows *st, int r0, int r1, uint16_t *pb);

/* y rows (row stride ldy, dtype dt) = o / l for `rows` rows of D values. */
void flash_store_rows(const float *o, int64_t dv, const float *l, int rows, int64_t D,
                      void *y, int64_t ldy, dtype dt);
void flash_store_rows_avx512(const float *o, int64_t dv, const float *l, int rows, int64_t D,
                             void *y, int64_t ldy, dtype dt);

/* The implementations, for a flash_args that flash_supported accepted. */
int flash_run_amx(const flash_args *a, scratch *s);
int flash_run_f32(const flash_args *a, scratch *s, int avx512);

/* AVX-512 parts of flash_run_f32 (flash_avx512.c); layouts as flash_f32.c describes. */
void flash_qk_avx512(const float *qb, int rows, int64_t D, const float *kt, int nkp, float *s);
void flash_pv_avx512(const float *p, int rows, int nkp, const float *v, int64_t dv, float *o);

#endif
