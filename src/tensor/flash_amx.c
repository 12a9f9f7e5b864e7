/* flash_amx.c -- fused bf16 attention on AMX tiles.
 *
 * tdpbf16ps multiplies a 16x32 bf16 tile A by a 32x16 tile B held in VNNI pairs (B's
 * row i holds rows 2i and 2i+1 of the matrix interleaved) into a 16x16 f32 tile C.
 * K and V are packed once per (b, h) into those B tiles, zero-padded (from whole rows
 * copied into a zeroed buffer, so no element is bounds-checked):
 *   k: per 16 keys and per 32 of dp (D rounded up to 32), a tile with the pairs of d
 *      (q k^T: A = 16 query rows x 32 of d);
 *   v: per 32 keys and per 16 of dv (D rounded up to 16), a tile with the pairs of keys
 *      (p v: A = 16 query rows of p x 32 keys).
 * Keys are padded to a multiple of 32; padded keys get -inf scores in the softmax (and
 * zero v rows, so that 0 * v stays 0). Where D is not a multiple of 16, v's column D
 * holds ones for the real keys, so that p v also yields l (run_blocks). Every thread
 * configures all 8 tiles as 16 rows of 64 bytes and computes 2x2 tiles at a time:
 * C = tmm0-3, A = tmm4-5, B = tmm6-7.
 * For a block of 32 queries against up to FLASH_BK keys:
 *   s (f32, stack) = q k^T     tiles, 2 query tiles x 2 key tiles per pass over dp; two
 *                              buffers, the next block's issued during this softmax
 *   p (bf16, stack), m, l      flash_softmax_bf16_begin and _rows, which also rescale o
 *   o (f32, stack) += p v      tiles, o loaded into C, 2 query tiles x 2 column tiles
 * At the end y = o / l in bf16.
 */
#include "tensor/flash_internal.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define AMX __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bf16")))
#define TILE 512   /* bf16 elements in one 16 x 64-byte tile */
#define BF16_ONE 0x3f80

typedef struct tilecfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg;

static int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

/* Keys j0..j0+n of t for (b, h) as rows of `width` bf16 values, zero past D and past Lk. */
static void gather_rows(const flash_args *a, const void *t, int64_t b, int64_t h, int64_t j0, int n,
                        int64_t width, uint16_t *rows) {
    memset(rows, 0, sizeof(uint16_t) * (size_t)(n * width));
    for (int i = 0; i < n && j0 + i < a->Lk; i++)
        memcpy(rows + i * width, (const uint16_t *)t + ((b * a->Lk + j0 + i) * a->H + h) * a->D,
               sizeof(uint16_t) * (size_t)a->D);
}

/* A k tile's row i holds the pairs (2i, 2i+1) of d for 16 keys: as 32-bit words, the
 * transpose of 16 keys' rows. */
static void pack_k(const flash_args *a, int64_t b, int64_t h, int64_t lkp, uint16_t *kb) {
    int64_t dp = round_up(a->D, 32);
    uint32_t rows[16 * FLASH_MAX_D / 2];
    for (int64_t jt = 0; jt < lkp / 16; jt++) {
        gather_rows(a, a->k, b, h, jt * 16, 16, dp, (uint16_t *)rows);
        for (int64_t c = 0; c < dp / 32; c++, kb += TILE)
            for (int i = 0; i < 16; i++)
                for (int n = 0; n < 16; n++)
                    ((uint32_t *)kb)[i * 16 + n] = rows[n * dp / 2 + c * 16 + i];
    }
}

/* A v tile's row i holds, for 16 columns, the values of keys 2i and 2i+1 interleaved. */
static void pack_v(const flash_args *a, int64_t b, int64_t h, int64_t lkp, uint16_t *vb) {
    int64_t dv = round_up(a->D, 16);
    uint16_t rows[32 * FLASH_MAX_D];
    for (int64_t kc = 0; kc < lkp / 32; kc++) {
        gather_rows(a, a->v, b, h, kc * 32, 32, dv, rows);
        if (a->D < dv)   /* the ones column: p v sums p there (flash_sm.l) */
            for (int i = 0; i < 32 && kc * 32 + i < a->Lk; i++) rows[i * dv + a->D] = BF16_ONE;
        for (int64_t t = 0; t < dv / 16; t++, vb += TILE)
            for (int i = 0; i < 16; i++)
                for (int n = 0; n < 16; n++) {
                    vb[i * 32 + n * 2] = rows[2 * i * dv + t * 16 + n];
                    vb[i * 32 + n * 2 + 1] = rows[(2 * i + 1) * dv + t * 16 + n];
                }
    }
}

/* Columns [32 n0, 32 n1) of s[32][*] = q[32][dp] . k tiles (kb: the block's first key). */
static AMX void qk_tiles(const uint16_t *qb, int64_t dp, const uint16_t *kb, int n0, int n1, float *s) {
    int64_t nc = dp / 32;
    kb += 2 * n0 * nc * TILE;
    for (int n = 2 * n0; n < 2 * n1; n += 2, kb += 2 * nc * TILE) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (int64_t c = 0; c < nc; c++) {
            _tile_loadd(4, qb + c * 32, dp * 2);
            _tile_loadd(5, qb + 16 * dp + c * 32, dp * 2);
            _tile_loadd(6, kb + c * TILE, 64);
            _tile_loadd(7, kb + (nc + c) * TILE, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 5, 6);
            _tile_dpbf16ps(2, 4, 7);
            _tile_dpbf16ps(3, 5, 7);
        }
        float *s0 = s + n * 16, *s1 = s0 + 16 * FLASH_BK;
        _tile_stored(0, s0, FLASH_BK * 4);
        _tile_stored(1, s1, FLASH_BK * 4);
        _tile_stored(2, s0 + 16, FLASH_BK * 4);
        _tile_stored(3, s1 + 16, FLASH_BK * 4);
    }
}

/* o[32][dv] += p[32][nkp] . v tiles (v at the block's first key). */
static AMX void pv_tiles(const uint16_t *p, int nkp, const uint16_t *vb, int64_t dv, float *o) {
    int64_t nt = dv / 16, t = 0;
    for (; t + 1 < nt; t += 2) {
        float *o0 = o + t * 16, *o1 = o0 + 16 * dv;
        _tile_loadd(0, o0, dv * 4);
        _tile_loadd(1, o1, dv * 4);
        _tile_loadd(2, o0 + 16, dv * 4);
        _tile_loadd(3, o1 + 16, dv * 4);
        for (int kc = 0; kc < nkp / 32; kc++) {
            _tile_loadd(4, p + kc * 32, FLASH_BK * 2);
            _tile_loadd(5, p + 16 * FLASH_BK + kc * 32, FLASH_BK * 2);
            _tile_loadd(6, vb + (kc * nt + t) * TILE, 64);
            _tile_loadd(7, vb + (kc * nt + t + 1) * TILE, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 5, 6);
            _tile_dpbf16ps(2, 4, 7);
            _tile_dpbf16ps(3, 5, 7);
        }
        _tile_stored(0, o0, dv * 4);
        _tile_stored(1, o1, dv * 4);
        _tile_stored(2, o0 + 16, dv * 4);
        _tile_stored(3, o1 + 16, dv * 4);
    }
    if (t < nt) {   /* an odd last column tile */
        float *o0 = o + t * 16, *o1 = o0 + 16 * dv;
        _tile_loadd(0, o0, dv * 4);
        _tile_loadd(1, o1, dv * 4);
        for (int kc = 0; kc < nkp / 32; kc++) {
            _tile_loadd(4, p + kc * 32, FLASH_BK * 2);
            _tile_loadd(5, p + 16 * FLASH_BK + kc * 32, FLASH_BK * 2);
            _tile_loadd(6, vb + (kc * nt + t) * TILE, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 5, 6);
        }
        _tile_stored(0, o0, dv * 4);
        _tile_stored(1, o1, dv * 4);
    }
}

/* Queries q0..q0+rows of (b, h) as bf16 rows of dp, zeros past D and past rows. */
static void load_q(const flash_args *a, int64_t b, int64_t h, int64_t q0, int rows, int64_t dp,
                   uint16_t *qb) {
    memset(qb, 0, sizeof(uint16_t) * (size_t)(FLASH_BQ * dp));
    for (int r = 0; r < rows; r++)
        memcpy(qb + r * dp, (const uint16_t *)a->q + (b * a->Lq + q0 + r) * a->H * a->D + h * a->D,
               sizeof(uint16_t) * (size_t)a->D);
}

/* One thread's share of the (b, h, query block) items; tiles are per thread state.
 * The tiles and the vector units work side by side: while the softmax of key block j
 * runs, a few rows at a time, the q k^T tiles of block j + 1 are issued between those
 * rows (into the other score buffer), so the tile unit is busy while the vector units
 * are. p v of block j needs all of block j's p and runs after. */
static AMX void run_blocks(const flash_args *a, const uint16_t *kpk, const uint16_t *vpk, int64_t lkp) {
    int64_t D = a->D, dp = round_up(D, 32), dv = round_up(D, 16), nbh = a->B * a->H;
    int64_t nqb = (a->Lq + FLASH_BQ - 1) / FLASH_BQ, nblk = (a->Lk + FLASH_BK - 1) / FLASH_BK;
    /* Where D leaves a padding column in v, v has ones there and p v sums p into
     * column D of o, rescaled with it: l comes from the tiles, not the vector units. */
    int ones = D < dv;
    _Alignas(64) uint16_t qb[FLASH_BQ * FLASH_MAX_D], pb[FLASH_BQ * FLASH_BK];
    _Alignas(64) float sc[2][FLASH_BQ * FLASH_BK], o[FLASH_BQ * FLASH_MAX_D], m[FLASH_BQ], l[FLASH_BQ];
    _Alignas(64) tilecfg cfg = {.palette = 1};
    for (int i = 0; i < 8; i++) cfg.colsb[i] = 64, cfg.rows[i] = 16;
    _tile_loadconfig(&cfg);
    /* Results that would be subnormal become zero (FTZ; DAZ for inputs too): the bf16
     * softmax's 2^x leaves x unclamped (flash_avx512.c). Restored below. */
    unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040);
#pragma omp for schedule(dynamic)
    for (int64_t it = 0; it < nbh * nqb; it++) {
        int64_t bh = it / nqb, b = bh / a->H, h = bh % a->H, q0 = it % nqb * FLASH_BQ;
        int rows = (int)(a->Lq - q0 < FLASH_BQ ? a->Lq - q0 : FLASH_BQ);
        const uint16_t *kb = kpk + bh * lkp * dp, *vb = vpk + bh * lkp * dv;
        load_q(a, b, h, q0, rows, dp, qb);
        /* Rows past the valid ones never go through softmax: their p stays 0. */
        memset(pb + rows * FLASH_BK, 0, sizeof(uint16_t) * (size_t)((FLASH_BQ - rows) * FLASH_BK));
        memset(o, 0, sizeof(float) * (size_t)(FLASH_BQ * dv));
        for (int r = 0; r < FLASH_BQ; r++) m[r] = -INFINITY, l[r] = 0.0f;
        qk_tiles(qb, dp, kb, 0, (int)round_up(a->Lk < FLASH_BK ? a->Lk : FLASH_BK, 32) / 32, sc[0]);
        for (int64_t j = 0; j < nblk; j++) {
            int64_t j0 = j * FLASH_BK, j1 = j0 + FLASH_BK;
            int nk = (int)(a->Lk - j0 < FLASH_BK ? a->Lk - j0 : FLASH_BK);
            int nkp = (int)round_up(nk, 32);
            flash_sm sm = {.s = sc[j & 1], .rows = rows, .nk = nk, .nkp = nkp,
                           .mask = a->mask ? a->mask + q0 * a->Lk + j0 : NULL,
                           .mask_ld = a->Lk, .scale = 1.0f / sqrtf((float)D),
                           .m = m, .l = ones ? NULL : l, .o = o, .dv = dv};
            flash_rows st;
            flash_softmax_bf16_begin(&sm, &st);
            int r = 0;
            if (j + 1 < nblk) {
                int np = (int)round_up(a->Lk - j1 < FLASH_BK ? a->Lk - j1 : FLASH_BK, 32) / 32;
                int per = (rows + np - 1) / np;
                for (int n = 0; n < np; n++) {
                    qk_tiles(qb, dp, kb + j1 * dp, n, n + 1, sc[(j + 1) & 1]);
                    int r1 = r + per < rows ? r + per : rows;
                    flash_softmax_bf16_rows(&sm, &st, r, r1, pb);
                    r = r1;
                }
            }
            flash_softmax_bf16_rows(&sm, &st, r, rows, pb);
            pv_tiles(pb, nkp, vb + j0 * dv, dv, o);
        }
        if (ones)
            for (int r = 0; r < rows; r++) l[r] = o[r * dv + D];
        uint16_t *y = (uint16_t *)a->y + (b * a->Lq + q0) * a->H * D + h * D;
        flash_store_rows_avx512(o, dv, l, rows, D, y, a->H * D, DT_BF16);
    }
    _mm_setcsr(csr);
    _tile_release();
}

int flash_run_amx(const flash_args *a, scratch *s) {
    int64_t nbh = a->B * a->H, lkp = round_up(a->Lk, 32);
    int64_t ksz = lkp * round_up(a->D, 32), vsz = lkp * round_up(a->D, 16);
    uint16_t *kpk = scratch_alloc(s, sizeof(uint16_t) * (size_t)(nbh * ksz));
    uint16_t *vpk = scratch_alloc(s, sizeof(uint16_t) * (size_t)(nbh * vsz));
    if (!kpk || !vpk) return -1;
#pragma omp parallel for schedule(static)
    for (int64_t bh = 0; bh < nbh; bh++) {
        pack_k(a, bh / a->H, bh % a->H, lkp, kpk + bh * ksz);
        pack_v(a, bh / a->H, bh % a->H, lkp, vpk + bh * vsz);
    }
#pragma omp parallel
    run_blocks(a, kpk, vpk, lkp);
    return 0;
}
