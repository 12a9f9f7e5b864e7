/* flash_f32.c -- fused attention with f32 math: the driver, and its plain C kernels.
 *
 * K and V are packed once per (b, h), widened to f32 (bf16 inputs too), padded with
 * zeros to whole 16-key tiles:
 *   kt: tile t = keys 16t..16t+15 as [D][16]: a query's scores against a tile are D
 *       multiply-adds of a broadcast q value by one 16-wide row;
 *   v:  [key][dv], dv = D rounded up to 16, so p v runs on whole vectors.
 * Each thread then takes (b, h, FLASH_BQ queries), copies the queries to its stack
 * (f32, zero rows past Lq) and walks the keys in blocks of FLASH_BK. The C kernels are
 * written so that the compiler vectorizes their inner 16-wide loops for any target;
 * with avx512 the AVX-512 kernels (flash_avx512.c) replace them.
 */
#include "tensor/flash_internal.h"
#include "tensor/half.h"

#include <math.h>
#include <string.h>

static int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

static float in_f32(const void *p, int64_t i, dtype dt) {
    return dt == DT_BF16 ? bf16_to_f32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

static void pack_kv(const flash_args *a, int64_t bh, float *kt, float *v) {
    int64_t b = bh / a->H, h = bh % a->H, HD = a->H * a->D, dv = round_up(a->D, 16);
    int64_t lk16 = round_up(a->Lk, 16);
    for (int64_t j = 0; j < lk16; j++) {
        int64_t src = (b * a->Lk + j) * HD + h * a->D, t = j / 16, jj = j % 16;
        for (int64_t d = 0; d < dv; d++) {
            int in = j < a->Lk && d < a->D;
            if (d < a->D) kt[(t * a->D + d) * 16 + jj] = in ? in_f32(a->k, src + d, a->dt) : 0.0f;
            v[j * dv + d] = in ? in_f32(a->v, src + d, a->dt) : 0.0f;
        }
    }
}

static void qk_c(const float *qb, int rows, int64_t D, const float *kt, int nkp, float *s) {
    for (int r = 0; r < rows; r++)
        for (int t = 0; t < nkp / 16; t++) {
            float acc[16] = {0};
            for (int64_t d = 0; d < D; d++)
                for (int jj = 0; jj < 16; jj++) acc[jj] += qb[r * D + d] * kt[(t * D + d) * 16 + jj];
            memcpy(s + r * FLASH_BK + t * 16, acc, sizeof acc);
        }
}

static void pv_c(const float *p, int rows, int nkp, const float *v, int64_t dv, float *o) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < nkp; j++) {
            float pj = p[r * FLASH_BK + j];
            for (int64_t d = 0; d < dv; d++) o[r * dv + d] += pj * v[j * dv + d];
        }
}

void flash_softmax_c(const flash_sm *b) {
    for (int r = 0; r < b->rows; r++) {
        float *x = b->s + r * FLASH_BK, mx = b->m[r];
        for (int j = 0; j < b->nk; j++) {
            x[j] = x[j] * b->scale + (b->mask ? b->mask[r * b->mask_ld + j] : 0.0f);
            if (x[j] > mx) mx = x[j];
        }
        /* Until a row has seen an unmasked key its max is -inf; exp(x - 0) is 0 then. */
        float ref = mx == -INFINITY ? 0.0f : mx, alpha = expf(b->m[r] - ref), sum = 0;
        for (int j = 0; j < b->nkp; j++) {
            x[j] = j < b->nk ? expf(x[j] - ref) : 0.0f;
            sum += x[j];
        }
        b->l[r] = b->l[r] * alpha + sum;
        b->m[r] = mx;
        if (alpha != 1.0f)
            for (int64_t d = 0; d < b->dv; d++) b->o[r * b->dv + d] *= alpha;
    }
}

/* Queries q0..q0+rows of (b, h) as f32 rows of D, zeros up to FLASH_BQ rows. */
static void load_q(const flash_args *a, int64_t b, int64_t h, int64_t q0, int rows, float *qb) {
    int64_t HD = a->H * a->D;
    for (int r = 0; r < rows; r++) {
        int64_t src = (b * a->Lq + q0 + r) * HD + h * a->D;
        for (int64_t d = 0; d < a->D; d++) qb[r * a->D + d] = in_f32(a->q, src + d, a->dt);
    }
    memset(qb + rows * a->D, 0, sizeof(float) * (size_t)((FLASH_BQ - rows) * a->D));
}

int flash_run_f32(const flash_args *a, scratch *s, int avx512) {
    int64_t D = a->D, HD = a->H * D, dv = round_up(D, 16), lk16 = round_up(a->Lk, 16);
    int64_t nbh = a->B * a->H, nqb = (a->Lq + FLASH_BQ - 1) / FLASH_BQ;
    float *kt = scratch_alloc(s, sizeof(float) * (size_t)(nbh * lk16 * D));
    float *vp = scratch_alloc(s, sizeof(float) * (size_t)(nbh * lk16 * dv));
    if (!kt || !vp) return -1;
    void (*qk)(const float *, int, int64_t, const float *, int, float *) =
        avx512 ? flash_qk_avx512 : qk_c;
    void (*pv)(const float *, int, int, const float *, int64_t, float *) =
        avx512 ? flash_pv_avx512 : pv_c;
    void (*softmax)(const flash_sm *) = avx512 ? flash_softmax_avx512 : flash_softmax_c;
    void (*store)(const float *, int64_t, const float *, int, int64_t, void *, int64_t, dtype) =
        avx512 ? flash_store_rows_avx512 : flash_store_rows;

#pragma omp parallel for schedule(static)
    for (int64_t bh = 0; bh < nbh; bh++) pack_kv(a, bh, kt + bh * lk16 * D, vp + bh * lk16 * dv);

#pragma omp parallel
    {
        _Alignas(64) float qb[FLASH_BQ * FLASH_MAX_D], sc[FLASH_BQ * FLASH_BK];
        _Alignas(64) float o[FLASH_BQ * FLASH_MAX_D], m[FLASH_BQ], l[FLASH_BQ];
#pragma omp for schedule(dynamic)
        for (int64_t it = 0; it < nbh * nqb; it++) {
            int64_t bh = it / nqb, b = bh / a->H, h = bh % a->H, q0 = it % nqb * FLASH_BQ;
            int rows = (int)(a->Lq - q0 < FLASH_BQ ? a->Lq - q0 : FLASH_BQ);
            load_q(a, b, h, q0, rows, qb);
            memset(o, 0, sizeof(float) * (size_t)(FLASH_BQ * dv));
            for (int r = 0; r < FLASH_BQ; r++) m[r] = -INFINITY, l[r] = 0.0f;
            for (int64_t j0 = 0; j0 < a->Lk; j0 += FLASH_BK) {
                int nk = (int)(a->Lk - j0 < FLASH_BK ? a->Lk - j0 : FLASH_BK);
                int nkp = (int)round_up(nk, 16);
                qk(qb, rows, D, kt + bh * lk16 * D + j0 * D, nkp, sc);
                flash_sm sm = {.s = sc, .rows = rows, .nk = nk, .nkp = nkp,
                               .mask = a->mask ? a->mask + q0 * a->Lk + j0 : NULL,
                               .mask_ld = a->Lk, .scale = 1.0f / sqrtf((float)D),
                               .m = m, .l = l, .o = o, .dv = dv};
                softmax(&sm);
                pv(sc, rows, nkp, vp + bh * lk16 * dv + j0 * dv, dv, o);
            }
            size_t esz = dtype_size(a->dt);
            store(o, dv, l, rows, D, (char *)a->y + ((b * a->Lq + q0) * HD + h * D) * esz, HD, a->dt);
        }
    }
    return 0;
}
