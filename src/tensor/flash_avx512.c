/* flash_avx512.c -- the AVX-512 kernels of fused attention.
 *
 * Compiled for AVX512F and DQ function by function (target attributes), so the rest of
 * the build stays generic; flash_attn.c calls them only where CPUID says AVX-512 works
 * (and the bf16 softmax, which needs AVX512-BF16, only on the AMX path).
 *   softmax  the online-softmax step (flash_internal.h) in base 2: scores are scaled
 *            by scale*log2(e) so that exp is 2^x, a polynomial in the fraction times
 *            a power of two by vscalefps (exp2_ps: degree 5 for f32 p, degree 3 where
 *            p is written as bf16 for AMX). The scaling rides in the FMA that
 *            subtracts the max; the max pass is a plain max (masks aside). Every row's
 *            max and alpha come first (block_begin, vectors of 16 rows, no branch on
 *            the scores), then the exp passes; the bf16 form runs those a few rows per
 *            call, so that its caller can issue tile work between them. alpha = 1 (max
 *            unchanged, the common case late in a row) costs nothing;
 *   store    y = o / l in f32 or bf16;
 *   qk       scores of 8 query rows against 32 keys at a time: 16 accumulators, per
 *            d two 16-key rows of the packed kt and 8 broadcast q values;
 *   pv       2 query rows by up to 64 output columns per pass over the keys.
 * Rows past the valid ones are computed on zero queries (qk runs in groups of 8, pv in
 * pairs): their scores are 0 and never go through softmax, so their p is 0.
 */
#include "tensor/flash_internal.h"

#include <immintrin.h>
#include <math.h>

#define AVX512 __attribute__((target("avx512f,avx512dq")))
#define AVX512_BF16 __attribute__((target("avx512f,avx512dq,avx512bf16")))
#define AVX512_INLINE __attribute__((target("avx512f,avx512dq"), always_inline)) static inline

/* 2^x for x <= 0 in the lanes of keep, 0 in the others. For f32 p: 2^n * 2^f with
 * n = round(x), f in [-1/2, 1/2], 2^f by degree 5 (relative error 2.3e-7) and 2^n by
 * vscalefps; below -126 the result would be subnormal, which costs a microcode assist
 * per vector, so x is clamped there and 2^-126 (1e-38) stands for 0. Where p is
 * rounded to bf16 (2^-9) anyway: f = x - floor(x) in [0, 1) in one vreduceps, 2^f by
 * degree 3 (7.5e-5), and vscalefps takes x itself, as it floors its exponent; no
 * clamp, as those callers flush subnormals to zero (MXCSR FTZ, run_blocks). */
AVX512_INLINE __m512 exp2_ps(__mmask16 keep, __m512 x, int deg5) {
    if (!deg5) {
        __m512 f = _mm512_reduce_ps(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        __m512 p = _mm512_set1_ps(7.8023799e-02f);
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.2606686e-01f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9583440e-01f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.9992508e-01f));
        return _mm512_maskz_scalef_ps(keep, p, x);
    }
    x = _mm512_max_ps(x, _mm512_set1_ps(-126.0f));
    __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(x, n), p = _mm512_set1_ps(1.3266974e-03f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6754599e-03f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5507425e-02f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022122e-01f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314694e-01f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0000001f));
    return _mm512_maskz_scalef_ps(keep, p, n);
}

AVX512_INLINE __mmask16 valid_lanes(int j, int nk) {
    return j + 16 <= nk ? (__mmask16)0xffff : j < nk ? (__mmask16)((1u << (nk - j)) - 1) : 0;
}

/* Row max of the block in the scaled (base 2) domain. Without a mask that is the max of
 * the raw scores times k (k > 0), one max per vector; with one, the scaled scores are
 * written back so that the exp pass reads them with k = 1. */
AVX512_INLINE float row_max(const flash_sm *b, float *x, const float *mrow, __m512 k) {
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 vmax = ninf;
    if (!mrow) {
        /* Four chains, so that the max's latency does not pace the loop. */
        __m512 v1 = ninf, v2 = ninf, v3 = ninf;
        int j = 0;
        for (; j + 64 <= b->nk; j += 64) {
            vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + j));
            v1 = _mm512_max_ps(v1, _mm512_loadu_ps(x + j + 16));
            v2 = _mm512_max_ps(v2, _mm512_loadu_ps(x + j + 32));
            v3 = _mm512_max_ps(v3, _mm512_loadu_ps(x + j + 48));
        }
        vmax = _mm512_max_ps(_mm512_max_ps(vmax, v1), _mm512_max_ps(v2, v3));
        for (; j + 16 <= b->nk; j += 16) vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + j));
        for (; j < b->nkp; j += 16)
            vmax = _mm512_mask_max_ps(vmax, valid_lanes(j, b->nk), vmax, _mm512_loadu_ps(x + j));
        return _mm512_reduce_max_ps(vmax) * _mm512_cvtss_f32(k);
    }
    const __m512 log2e = _mm512_set1_ps(1.4426950408889634f);
    for (int j = 0; j < b->nkp; j += 16) {
        __mmask16 in = valid_lanes(j, b->nk);
        __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(in, mrow + j), log2e,
                                   _mm512_mul_ps(_mm512_loadu_ps(x + j), k));
        _mm512_storeu_ps(x + j, v);
        vmax = _mm512_mask_max_ps(vmax, in, vmax, v);
    }
    return _mm512_reduce_max_ps(vmax);
}

/* Every row's new max (old max included), then, 16 rows a vector, the reference each
 * exp pass subtracts and the alpha that rescales the old sums: no branch depends on the
 * scores, so one row's reductions overlap the next row's work. */
AVX512_INLINE void block_begin(const flash_sm *b, __m512 kscale, float *mx, float *ref,
                               float *alpha) {
    for (int r = 0; r < b->rows; r++) {
        const float *mrow = b->mask ? b->mask + r * b->mask_ld : NULL;
        mx[r] = fmaxf(row_max(b, b->s + r * FLASH_BK, mrow, kscale), b->m[r]);
    }
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    for (int r = 0; r < b->rows; r += 16) {
        __mmask16 in = valid_lanes(r, b->rows);
        __m512 mo = _mm512_mask_loadu_ps(ninf, in, b->m + r), mn = _mm512_mask_loadu_ps(ninf, in, mx + r);
        /* Until a row has seen an unmasked key its max is -inf; 2^(x - 0) is 0 then. Nor
         * has it any sum or output yet: alpha 0. An unchanged max gives alpha exactly 1. */
        __m512 rf = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(mn, ninf, _CMP_NEQ_OQ), mn);
        __mmask16 seen = _mm512_cmp_ps_mask(mo, ninf, _CMP_NEQ_OQ);
        __m512 al = exp2_ps(seen, _mm512_sub_ps(mo, rf), 1);
        al = _mm512_mask_mov_ps(al, _mm512_mask_cmp_ps_mask(seen, mo, mn, _CMP_EQ_OQ), _mm512_set1_ps(1.0f));
        _mm512_storeu_ps(ref + r, rf);
        _mm512_storeu_ps(alpha + r, al);
    }
}

/* p = 2^(x k - ref) for keys j..j+15, keep = valid_lanes(j, nk) (the loops pass all
 * ones for the full vectors). Padded keys get exactly 0; with a mask, so do the masked
 * ones (and any 2^-126 below the max), so that a fully masked row sums to 0. */
AVX512_INLINE __m512 row_exp(const float *x, int j, __mmask16 keep, int masked, __m512 k,
                             __m512 vref, int deg5) {
    __m512 t = _mm512_fmsub_ps(_mm512_loadu_ps(x + j), k, vref);
    if (masked) keep = _mm512_mask_cmp_ps_mask(keep, t, _mm512_set1_ps(-126.0f), _CMP_GT_OQ);
    return exp2_ps(keep, t, deg5);
}

/* Closes row r's step: l and m updated, its accumulator row rescaled when m moved
 * (when alpha is 0 the row had seen no key: its o is still 0). */
AVX512_INLINE void row_end(const flash_sm *b, int r, float mx, float alpha, __m512 vsum) {
    if (b->l) b->l[r] = b->l[r] * alpha + _mm512_reduce_add_ps(vsum);
    b->m[r] = mx;
    if (alpha != 1.0f && alpha != 0.0f) {
        float *o = b->o + r * b->dv;
        __m512 va = _mm512_set1_ps(alpha);
        for (int64_t d = 0; d < b->dv; d += 16)
            _mm512_storeu_ps(o + d, _mm512_mul_ps(_mm512_loadu_ps(o + d), va));
    }
}

AVX512 void flash_softmax_avx512(const flash_sm *b) {
    const __m512 kscale = _mm512_set1_ps(b->scale * 1.4426950408889634f);
    flash_rows st;
    block_begin(b, kscale, st.mx, st.ref, st.alpha);
    /* A mask's scores were scaled by row_max already. */
    const __m512 k = b->mask ? _mm512_set1_ps(1.0f) : kscale;
    for (int r = 0; r < b->rows; r++) {
        float *x = b->s + r * FLASH_BK;
        __m512 vref = _mm512_set1_ps(st.ref[r]), vsum = _mm512_setzero_ps();
        for (int j = 0; j < b->nkp; j += 16) {
            __mmask16 keep = j + 16 <= b->nk ? (__mmask16)0xffff : valid_lanes(j, b->nk);
            __m512 e = row_exp(x, j, keep, b->mask != NULL, k, vref, 1);
            vsum = _mm512_add_ps(vsum, e);
            _mm512_storeu_ps(x + j, e);
        }
        row_end(b, r, st.mx[r], st.alpha[r], vsum);
    }
}

/* p for keys j..j+31 stored as bf16 to pbr + j; returns vsum plus their sum (when sum). */
__attribute__((target("avx512f,avx512dq,avx512bf16"), always_inline)) static inline __m512
exp32_bf16(const float *x, int j, __mmask16 keep0, __mmask16 keep1, int masked, int sum, __m512 k,
           __m512 vref, __m512 vsum, uint16_t *pbr) {
    __m512 e0 = row_exp(x, j, keep0, masked, k, vref, 0);
    __m512 e1 = row_exp(x, j + 16, keep1, masked, k, vref, 0);
    _mm512_storeu_si512(pbr + j, (__m512i)_mm512_cvtne2ps_pbh(e1, e0));
    return sum ? _mm512_add_ps(vsum, _mm512_add_ps(e0, e1)) : vsum;
}

/* A row's p as bf16 to pbr, and their sum when sum. nk and nkp come as values, not
 * through b: the bf16 stores may alias anything, which would reload them every pass. */
__attribute__((target("avx512f,avx512dq,avx512bf16"), always_inline)) static inline __m512
row_exp_bf16(int nk, int nkp, const float *x, int masked, int sum, __m512 k, __m512 vref,
             uint16_t *pbr) {
    __m512 vsum = _mm512_setzero_ps();
    int j = 0;
    for (; j + 32 <= nk; j += 32)
        vsum = exp32_bf16(x, j, 0xffff, 0xffff, masked, sum, k, vref, vsum, pbr);
    for (; j < nkp; j += 32)
        vsum = exp32_bf16(x, j, valid_lanes(j, nk), valid_lanes(j + 16, nk), masked, sum, k, vref,
                          vsum, pbr);
    return vsum;
}

AVX512 void flash_softmax_bf16_begin(const flash_sm *b, flash_rows *st) {
    block_begin(b, _mm512_set1_ps(b->scale * 1.4426950408889634f), st->mx, st->ref, st->alpha);
}

/* The exp passes with p written as bf16 to pb (row stride FLASH_BK; nkp a multiple of
 * 32), 32 keys a vcvtne2ps2bf16, so p never goes back to memory as f32. */
AVX512_BF16 void flash_softmax_bf16_rows(const flash_sm *b, const flash_rows *st, int r0, int r1,
                                         uint16_t *pb) {
    const int nk = b->nk, nkp = b->nkp;
    /* A mask's scores were scaled by row_max already. */
    const __m512 k = _mm512_set1_ps(b->mask ? 1.0f : b->scale * 1.4426950408889634f);
    for (int r = r0; r < r1; r++) {
        const float *x = b->s + r * FLASH_BK;
        __m512 vref = _mm512_set1_ps(st->ref[r]);
        /* masked and sum as constants, each case its own loop. */
        uint16_t *pbr = pb + r * FLASH_BK;
        __m512 vsum = b->mask ? (b->l ? row_exp_bf16(nk, nkp, x, 1, 1, k, vref, pbr)
                                      : row_exp_bf16(nk, nkp, x, 1, 0, k, vref, pbr))
                              : (b->l ? row_exp_bf16(nk, nkp, x, 0, 1, k, vref, pbr)
                                      : row_exp_bf16(nk, nkp, x, 0, 0, k, vref, pbr));
        row_end(b, r, st->mx[r], st->alpha[r], vsum);
    }
}

/* bf16 bits in the low halves, rounded to nearest even as f32_to_bf16 (y is finite). */
AVX512_INLINE __m512i to_bf16(__m512 v) {
    __m512i u = _mm512_castps_si512(v);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    u = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
    return _mm512_srli_epi32(u, 16);
}

AVX512 void flash_store_rows_avx512(const float *o, int64_t dv, const float *l, int rows,
                                    int64_t D, void *y, int64_t ldy, dtype dt) {
    for (int r = 0; r < rows; r++) {
        __m512 inv = _mm512_set1_ps(l[r] > 0 ? 1.0f / l[r] : 0.0f);
        for (int64_t d = 0; d < D; d += 16) {
            __mmask16 in = valid_lanes((int)d, (int)D);
            __m512 v = _mm512_mul_ps(_mm512_loadu_ps(o + r * dv + d), inv);
            if (dt == DT_BF16)
                _mm512_mask_cvtepi32_storeu_epi16((uint16_t *)y + r * ldy + d, in, to_bf16(v));
            else
                _mm512_mask_storeu_ps((float *)y + r * ldy + d, in, v);
        }
    }
}

/* s[8][nt*16] = q[8][D] . kt tiles, nt = 1 or 2. */
AVX512_INLINE void qk_8rows(const float *q, int64_t D, const float *kt, int nt, float *s) {
    __m512 acc[8][2];
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    const float *k1 = kt + D * 16;
    for (int64_t d = 0; d < D; d++) {
        __m512 b0 = _mm512_loadu_ps(kt + d * 16);
        __m512 b1 = nt == 2 ? _mm512_loadu_ps(k1 + d * 16) : b0;
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) {
            __m512 qv = _mm512_set1_ps(q[r * D + d]);
            acc[r][0] = _mm512_fmadd_ps(qv, b0, acc[r][0]);
            if (nt == 2) acc[r][1] = _mm512_fmadd_ps(qv, b1, acc[r][1]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++) {
        _mm512_storeu_ps(s + r * FLASH_BK, acc[r][0]);
        if (nt == 2) _mm512_storeu_ps(s + r * FLASH_BK + 16, acc[r][1]);
    }
}

AVX512 void flash_qk_avx512(const float *qb, int rows, int64_t D, const float *kt, int nkp, float *s) {
    int nt = nkp / 16;
    for (int r0 = 0; r0 < rows; r0 += 8) {
        int t = 0;
        const float *q = qb + r0 * D;
        float *sr = s + r0 * FLASH_BK;
        for (; t + 1 < nt; t += 2) qk_8rows(q, D, kt + t * D * 16, 2, sr + t * 16);
        if (t < nt) qk_8rows(q, D, kt + t * D * 16, 1, sr + t * 16);
    }
}

/* o rows r, r+1 (columns [0, 16 nv)) += p rows r, r+1 . v. */
AVX512_INLINE void pv_2rows(const float *p, int nkp, const float *v, int64_t dv, float *o, int nv) {
    __m512 a0[4], a1[4];
#pragma GCC unroll 4
    for (int i = 0; i < nv; i++) {
        a0[i] = _mm512_loadu_ps(o + 16 * i);
        a1[i] = _mm512_loadu_ps(o + dv + 16 * i);
    }
    for (int j = 0; j < nkp; j++) {
        __m512 x0 = _mm512_set1_ps(p[j]), x1 = _mm512_set1_ps(p[FLASH_BK + j]);
#pragma GCC unroll 4
        for (int i = 0; i < nv; i++) {
            __m512 vv = _mm512_loadu_ps(v + j * dv + 16 * i);
            a0[i] = _mm512_fmadd_ps(x0, vv, a0[i]);
            a1[i] = _mm512_fmadd_ps(x1, vv, a1[i]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < nv; i++) {
        _mm512_storeu_ps(o + 16 * i, a0[i]);
        _mm512_storeu_ps(o + dv + 16 * i, a1[i]);
    }
}

AVX512 void flash_pv_avx512(const float *p, int rows, int nkp, const float *v, int64_t dv, float *o) {
    for (int r = 0; r < rows; r += 2)
        for (int64_t d = 0; d < dv; d += 64) {
            const float *pr = p + r * FLASH_BK, *vd = v + d;
            float *od = o + r * dv + d;
            switch ((dv - d) / 16) {
            case 1: pv_2rows(pr, nkp, vd, dv, od, 1); break;
            case 2: pv_2rows(pr, nkp, vd, dv, od, 2); break;
            case 3: pv_2rows(pr, nkp, vd, dv, od, 3); break;
            default: pv_2rows(pr, nkp, vd, dv, od, 4); break;
            }
        }
}
