/* rng.c -- torch's CPU mt19937 and its randn kernels, reproduced bit for bit.
 *
 * Two normal transforms exist in torch's CPU kernel and both are needed:
 *   - n >= 16: all n 24-bit uniforms first, Box-Muller on blocks of 16 (pairs j, j+8),
 *     and for a tail (n % 16 != 0) 16 fresh uniforms transformed into the LAST 16
 *     slots. The log/sin/cos are the AVX2 Cephes polynomials torch's x86 build
 *     dispatches to, with the compiler's fused multiply-adds reproduced by fmaf().
 *   - n < 16: one double Box-Muller per pair with libm, the second value cached in
 *     the generator (manual_seed clears the cache; the float path ignores it).
 * All arithmetic here must stay plain f32/f64 with explicit fmaf(): the build uses
 * -std=c11, so the compiler does not contract a*b+c on its own.
 */
#include "sampling/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void rng_seed(rng *r, uint64_t seed) {
    r->st[0] = (uint32_t)seed;
    for (int j = 1; j < RNG_MT_N; j++)
        r->st[j] = 1812433253u * (r->st[j - 1] ^ (r->st[j - 1] >> 30)) + (uint32_t)j;
    r->left = 1;
    r->next = 0;
    r->has_normal = 0;
    r->normal = 0.0;
}

static void mt_twist(rng *r) {
    const int M = 397;
    uint32_t *s = r->st;
    for (int i = 0; i < RNG_MT_N; i++) {
        uint32_t y = (s[i] & 0x80000000u) | (s[(i + 1) % RNG_MT_N] & 0x7fffffffu);
        s[i] = s[(i + M) % RNG_MT_N] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
}

uint32_t rng_u32(rng *r) {
    if (--r->left == 0) {
        mt_twist(r);
        r->left = RNG_MT_N;
        r->next = 0;
    }
    uint32_t y = r->st[r->next++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

static float uniform_f32(rng *r) {
    return (float)(rng_u32(r) & 0xffffffu) * 0x1p-24f;
}

static double uniform_f64(rng *r) {
    uint64_t hi = rng_u32(r);
    uint64_t v = (hi << 32) | rng_u32(r);
    return (double)(v & ((1ull << 53) - 1)) * 0x1p-53;
}

static double normal_f64(rng *r) {
    if (r->has_normal) {
        r->has_normal = 0;
        return r->normal;
    }
    double u1 = uniform_f64(r), u2 = uniform_f64(r);
    double radius = sqrt(-2.0 * log1p(-u2));
    double theta = 2.0 * M_PI * u1;
    r->normal = radius * sin(theta);
    r->has_normal = 1;
    return radius * cos(theta);
}

static float f32_from_bits(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static uint32_t f32_bits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }

/* Cephes log for x in (0,1], as torch's AVX2 kernel evaluates it. */
static float avx2_log(float x) {
    if (x < 1.17549435e-38f) x = 1.17549435e-38f;
    uint32_t bits = f32_bits(x);
    float e = (float)((int32_t)(bits >> 23) - 127) + 1.0f;
    float m = f32_from_bits((bits & ~0x7f800000u) | f32_bits(0.5f));
    int small = m < 0.707106781186547524f;
    float t = small ? m : 0.0f;
    m = (m - 1.0f) + t;
    if (small) e = e - 1.0f;
    float z = m * m;
    float y = fmaf(7.0376836292e-2f, m, -1.1514610310e-1f);
    y = fmaf(y, m, 1.1676998740e-1f);
    y = fmaf(y, m, -1.2420140846e-1f);
    y = fmaf(y, m, 1.4249322787e-1f);
    y = fmaf(y, m, -1.6668057665e-1f);
    y = fmaf(y, m, 2.0000714765e-1f);
    y = fmaf(y, m, -2.4999993993e-1f);
    y = fmaf(y, m, 3.3333331174e-1f);
    y = y * m;
    y = fmaf(y, z, e * -2.12194440e-4f);
    y = y - 0.5f * z;
    float res = m + y;
    return fmaf(e, 0.693359375f, res);
}

/* Cephes sincos for x >= 0, as torch's AVX2 kernel evaluates it. */
static void avx2_sincos(float x, float *sin_out, float *cos_out) {
    int sign_sin = signbit(x) != 0;
    x = fabsf(x);
    int j = (int)(x * 1.27323954473516f);
    j = (j + 1) & ~1;
    float yj = (float)j;
    int swap_sin = (j & 4) != 0;
    x = fmaf(yj, -0.78515625f, x);
    x = fmaf(yj, -2.4187564849853515625e-4f, x);
    x = fmaf(yj, -3.77489497744594108e-8f, x);
    int sign_cos = ((~(j - 2)) & 4) != 0;
    float z = x * x;
    float c = fmaf(2.443315711809948e-5f, z, -1.388731625493765e-3f);
    c = fmaf(c, z, 4.166664568298827e-2f);
    c = c * z;
    c = fmaf(c, z, -(0.5f * z));
    c = c + 1.0f;
    float s = fmaf(-1.9515295891e-4f, z, 8.3321608736e-3f);
    s = fmaf(s, z, -1.6666654611e-1f);
    s = s * z;
    s = fmaf(s, x, x);
    float ys = (j & 2) == 0 ? s : c;
    float yc = (j & 2) == 0 ? c : s;
    *sin_out = (sign_sin ^ swap_sin) ? -ys : ys;
    *cos_out = sign_cos ? -yc : yc;
}

/* Pairs (j, j+8) of 16 uniforms become r*cos, r*sin in place. */
static void box_muller_16(float *d) {
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - d[j];
        float theta = 6.2831855f * d[j + 8];
        float radius = sqrtf(-2.0f * avx2_log(u1));
        float s, c;
        avx2_sincos(theta, &s, &c);
        d[j] = radius * c;
        d[j + 8] = radius * s;
    }
}

void rng_randn(rng *r, float *out, int64_t n) {
    if (n < 16) {
        for (int64_t i = 0; i < n; i++) out[i] = (float)normal_f64(r);
        return;
    }
    for (int64_t i = 0; i < n; i++) out[i] = uniform_f32(r);
    for (int64_t i = 0; i + 16 <= n; i += 16) box_muller_16(out + i);
    if (n % 16 != 0) {
        float *tail = out + n - 16;
        for (int k = 0; k < 16; k++) tail[k] = uniform_f32(r);
        box_muller_16(tail);
    }
}

int rng_prepare_noise(uint64_t seed, int64_t batch, int64_t per_item,
                      const int64_t *batch_index, float *out) {
    if (batch < 0 || per_item < 0) return -1;
    rng *r = malloc(sizeof *r);
    if (!r) return -1;
    rng_seed(r, seed);
    if (!batch_index) {
        rng_randn(r, out, batch * per_item);
        free(r);
        return 0;
    }
    int64_t max_index = -1;
    for (int64_t b = 0; b < batch; b++) {
        if (batch_index[b] < 0) { free(r); return -1; }
        if (batch_index[b] > max_index) max_index = batch_index[b];
    }
    float *draw = malloc((size_t)(per_item > 0 ? per_item : 1) * sizeof *draw);
    if (!draw) { free(r); return -1; }
    /* Draws happen in index order; an item copies the draw its index names. */
    for (int64_t i = 0; i <= max_index; i++) {
        rng_randn(r, draw, per_item);
        for (int64_t b = 0; b < batch; b++)
            if (batch_index[b] == i) memcpy(out + b * per_item, draw, (size_t)per_item * sizeof *draw);
    }
    free(draw);
    free(r);
    return 0;
}
