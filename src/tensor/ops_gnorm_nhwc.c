/* ops_gnorm_nhwc.c -- group norm over channels-last data, one hand-written kernel.
 *
 * x (N, S, C) (any positions between N and C flattened to S): group g of sample n is
 * the S rows of channels [g*C/G, (g+1)*C/G), each row a short contiguous run. oneDNN
 * 2.6 has no group normalization, and the layer-norm trick of ops_norm.c needs the
 * group to be one contiguous block, which channels last is not. So:
 *
 *   1. statistics: each sample's rows are cut into GN_CHUNKS fixed ranges; every range
 *      sums x and x*x per channel in double (16-bit data in f32 over runs of 64 rows;
 *      vectorised across channels, rows are contiguous), the ranges run in parallel. The ranges depend only on S, so the
 *      result does not depend on the thread count.
 *   2. per (n, c): mean and variance of its group from those sums, in double (the
 *      E[x^2] - mean^2 form is exact enough there for any f32 data), then, as PyTorch's
 *      channels-last kernel does, scale a = rstd * gamma[c] and shift b = beta[c] -
 *      mean * a in f32.
 *   3. one pass over the rows: y = act(x * a + b), written once; SiLU is computed in
 *      the same pass (a branch-free expf, so the loop vectorises; on AVX-512 an
 *      intrinsics loop with a reciprocal estimate in place of the division). Other
 *      activations follow as oneDNN eltwise in place.
 *
 * With a shift (op_group_norm_nhwc_shift: a ResBlock's timestep embedding e, one value
 * per (n, c)), the op normalizes x + e without forming it: the chunk sums of x become
 * those of x + e in step 2 (sum + S e, sq + 2 e sum + S e^2, in double), and e folds
 * into the shift, b = beta - mean * a + e * a. The passes over the data are unchanged, so
 * the add costs nothing; x + e is exact rather than rounded to x's dtype as a separate
 * add would store it (bf16: a difference of at most half an ulp of the sum).
 *
 * f32, bf16 and f16 in and out (rows of other dtypes go through a per-thread f32 row;
 * bf16 rounds to nearest even like every cast here). The leaf loops are compiled for
 * AVX-512 (x86-64-v4) next to the baseline and picked at load time, because the build
 * targets baseline x86-64. At O0 the op is the unfused reference instead: the NCHW
 * op_group_norm (layer norm, then affine, then activation) between two permutes.
 */
#include "tensor/ops_internal.h"
#include "backend/backend.h"
#include "tensor/half.h"
#include "tensor/optime.h"

#include <math.h>
#include <omp.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include <string.h>

#define GN_CHUNKS 32
#define GN_F32_RUN 64   /* rows summed in f32 before a double add (16-bit data) */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define GN_CLONES __attribute__((target_clones("arch=x86-64-v4", "default")))
#else
#define GN_CLONES
#endif

/* Row r (C values) of x as f32: the data itself, or widened into buf. */
static inline const float *gn_load(const tensor *x, int64_t r, int64_t C, float *buf) {
    if (x->dt == DT_F32) return (const float *)x->data + r * C;
    const uint16_t *p = (const uint16_t *)x->data + r * C;
    if (x->dt == DT_BF16) {
        #pragma omp simd
        for (int64_t c = 0; c < C; c++) buf[c] = f32_from_bits((uint32_t)p[c] << 16);
    } else {
        for (int64_t c = 0; c < C; c++) buf[c] = half_to_f32(p[c]);
    }
    return buf;
}

static inline void gn_store(tensor *y, int64_t r, int64_t C, const float *v) {
    if (y->dt == DT_F32) return;   /* written in place */
    uint16_t *p = (uint16_t *)y->data + r * C;
    if (y->dt == DT_BF16) {
        #pragma omp simd
        for (int64_t c = 0; c < C; c++) p[c] = f32_to_bf16(v[c]);
    } else {
        for (int64_t c = 0; c < C; c++) p[c] = f32_to_half(v[c]);
    }
}

/* Per-channel sum and sum of squares of rows [r0, r1), in double; buf: 3C floats. Data
 * of 16-bit dtypes sums in f32 (twice the lanes, no conversions) over runs of at most
 * GN_F32_RUN rows, each run then added in double: a run's f32 sums lose about
 * GN_F32_RUN * 2^-24 of their size, small enough that E[x^2] - mean^2 keeps its precision
 * for data far from zero, however long the chunk (a VAE's 512x512 level has 8192 rows). */
GN_CLONES
static void gn_sums(const tensor *x, int64_t r0, int64_t r1, int64_t C, float *buf,
                    double *sum, double *sq) {
    if (x->dt == DT_F32) {
        for (int64_t c = 0; c < C; c++) sum[c] = sq[c] = 0.0;
        for (int64_t r = r0; r < r1; r++) {
            const float *v = gn_load(x, r, C, buf);
            #pragma omp simd
            for (int64_t c = 0; c < C; c++) {
                double d = v[c];
                sum[c] += d;
                sq[c] += d * d;
            }
        }
        return;
    }
    float *fs = buf + C, *fq = buf + 2 * C;
    for (int64_t c = 0; c < C; c++) sum[c] = sq[c] = 0.0;
    for (int64_t run = r0; run < r1; run += GN_F32_RUN) {
        for (int64_t c = 0; c < C; c++) fs[c] = fq[c] = 0.0f;
        for (int64_t r = run; r < r1 && r < run + GN_F32_RUN; r++) {
            const float *v = gn_load(x, r, C, buf);
            #pragma omp simd
            for (int64_t c = 0; c < C; c++) {
                fs[c] += v[c];
                fq[c] += v[c] * v[c];
            }
        }
        for (int64_t c = 0; c < C; c++) sum[c] += fs[c], sq[c] += fq[c];
    }
}

/* exp(x) for x in [-87.3, 88.3] (clamped), within 2 ulp: 2^n * p(r), r = x - n ln2,
 * |r| <= ln2/2, p the degree-7 Taylor polynomial (truncation 5e-9). Written so the
 * loops around it vectorise without -ffast-math: compares for the clamp, and the
 * 1.5 * 2^23 trick for rounding to the nearest integer (no fmaxf, no floorf). */
static inline float gn_expf(float x) {
    const float round = 12582912.0f;
    x = x < -87.3f ? -87.3f : x > 88.3f ? 88.3f : x;
    float n = (x * 1.44269504f + round) - round;
    float r = x - n * 0.693145752f - n * 1.42860677e-6f;   /* ln2 split: n * hi is exact */
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    return p * f32_from_bits((uint32_t)((int32_t)n + 127) << 23);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* out = SiLU(v * a + b) for n values on AVX-512, where the portable loop's division
 * paced it (profiled): exp(-t) as gn_expf computes it (clamped, the ln2 split, the
 * degree-7 polynomial, here in FMAs) with 2^n by vscalefps; 1 / (1 + e) by vrcp14ps and
 * one Newton step (2^-28) rather than vdivps. The upper clamp stops at 87 so that
 * 1 / (1 + e) stays a normal number. */
__attribute__((target("avx512f"), noinline))
static void gn_silu_avx512(const float *v, const float *a, const float *b, int64_t n, float *out) {
    const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
    static const float taylor[8] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24,
                                    1.0f / 6,    0.5f,        1.0f,        1.0f};
    for (int64_t c = 0; c < n; c += 16) {
        __mmask16 k = c + 16 <= n ? (__mmask16)0xffff : (__mmask16)((1u << (n - c)) - 1);
        __m512 t = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, v + c), _mm512_maskz_loadu_ps(k, a + c),
                                   _mm512_maskz_loadu_ps(k, b + c));
        __m512 u = _mm512_min_ps(_mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), t),
                                               _mm512_set1_ps(-87.3f)), _mm512_set1_ps(87.0f));
        __m512 m = _mm512_roundscale_ps(_mm512_mul_ps(u, _mm512_set1_ps(1.44269504f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512 r = _mm512_fnmadd_ps(m, _mm512_set1_ps(0.693145752f), u);
        r = _mm512_fnmadd_ps(m, _mm512_set1_ps(1.42860677e-6f), r);
        __m512 p = _mm512_set1_ps(taylor[0]);
        for (int i = 1; i < 8; i++) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(taylor[i]));
        __m512 d = _mm512_add_ps(_mm512_scalef_ps(p, m), one), rc = _mm512_rcp14_ps(d);
        rc = _mm512_mul_ps(rc, _mm512_fnmadd_ps(d, rc, two));
        _mm512_mask_storeu_ps(out + c, k, _mm512_mul_ps(t, rc));
    }
}
#endif

/* Row r of y = x * a + b per channel, then SiLU when silu (on AVX-512 when avx512);
 * buf: C floats of scratch. */
GN_CLONES
static void gn_row(const tensor *x, tensor *y, int64_t r, int64_t C, const float *a,
                   const float *b, int silu, int avx512, float *buf) {
    const float *v = gn_load(x, r, C, buf);
    float *out = y->dt == DT_F32 ? (float *)y->data + r * C : buf;
#if defined(__x86_64__) && defined(__GNUC__)
    if (silu && avx512) {
        gn_silu_avx512(v, a, b, C, out);
    } else
#endif
    if (silu) {
        #pragma omp simd
        for (int64_t c = 0; c < C; c++) {
            float t = v[c] * a[c] + b[c];
            out[c] = t / (1.0f + gn_expf(-t));
        }
    } else {
        #pragma omp simd
        for (int64_t c = 0; c < C; c++) out[c] = v[c] * a[c] + b[c];
    }
    gn_store(y, r, C, out);
}

/* Step 2: scale and shift per (n, c) from the chunk sums part[n][k][2][C], of x + shift
 * when shift (N, C) is given. */
static void gn_coeffs(const double *part, const tensor *shift, int64_t N, int64_t C,
                      int64_t S, int groups, const tensor *gamma, const tensor *beta, float eps,
                      float *a, float *b) {
    int64_t cg = C / groups;
    double count = (double)(cg * S);
    for (int64_t n = 0; n < N; n++) {
        for (int g = 0; g < groups; g++) {
            double s = 0, q = 0;
            for (int64_t c = g * cg; c < (g + 1) * cg; c++) {
                double sc = 0, qc = 0, e = shift ? tensor_get_f32(shift, n * C + c) : 0.0;
                for (int k = 0; k < GN_CHUNKS; k++) {
                    const double *ps = part + ((n * GN_CHUNKS + k) * 2) * C + c;
                    sc += ps[0];
                    qc += ps[C];
                }
                s += sc + (double)S * e;
                q += qc + 2.0 * e * sc + (double)S * e * e;
            }
            double mean = s / count, var = fmax(q / count - mean * mean, 0.0);
            float rstd = (float)(1.0 / sqrt(var + (double)eps));
            for (int64_t c = g * cg; c < (g + 1) * cg; c++) {
                float sc = rstd * (gamma ? tensor_get_f32(gamma, c) : 1.0f);
                float e = shift ? tensor_get_f32(shift, n * C + c) : 0.0f;
                a[n * C + c] = sc;
                b[n * C + c] = (beta ? tensor_get_f32(beta, c) : 0.0f) - (float)mean * sc + e * sc;
            }
        }
    }
}

/* Whether the AVX-512 SiLU may run here (CPUID and the OS's consent, via GCC). */
static int gn_avx512(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

static int gn_fused(const tensor *x, const tensor *shift, tensor *y, int64_t N, int64_t S,
                    int64_t C, int groups, const tensor *gamma, const tensor *beta, float eps,
                    act_kind act) {
    int threads = omp_get_max_threads();
    scratch s;
    scratch_begin(&s);
    double *part = scratch_alloc(&s, (size_t)(N * GN_CHUNKS * 2 * C) * sizeof(double));
    float *a = scratch_alloc(&s, (size_t)(2 * N * C) * sizeof(float)), *b = a ? a + N * C : NULL;
    float *rows = scratch_alloc(&s, (size_t)(threads * 3 * C) * sizeof(float));
    int rc = part && a && rows ? 0 : -1;
    if (rc == 0) {
        /* The kernel clock stops before a oneDNN activation, which dnn_exec times itself. */
        uint64_t t0 = optime_start();
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < N * GN_CHUNKS; i++) {
            int64_t n = i / GN_CHUNKS, k = i % GN_CHUNKS;
            double *ps = part + i * 2 * C;
            gn_sums(x, n * S + k * S / GN_CHUNKS, n * S + (k + 1) * S / GN_CHUNKS, C,
                    rows + omp_get_thread_num() * 3 * C, ps, ps + C);
        }
        gn_coeffs(part, shift, N, C, S, groups, gamma, beta, eps, a, b);
        int silu = act == ACT_SILU, avx512 = gn_avx512();
        #pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < N * S; r++)
            gn_row(x, y, r, C, a + r / S * C, b + r / S * C, silu, avx512,
                   rows + omp_get_thread_num() * 3 * C);
        optime_add(OT_GROUP_NORM, t0);
        if (!silu) rc = run_act_inplace(y, act);
    }
    scratch_end(&s);
    return rc;
}

/* O0: the NCHW op between permutes, (N, S, C) seen as (N, C, S). */
static tensor *gn_reference(const tensor *x, int64_t N, int64_t S, int64_t C, int groups,
                            const tensor *gamma, const tensor *beta, float eps, act_kind act) {
    tensor v = *x;
    v.prepared = NULL;
    tensor_reshape(&v, 3, (int64_t[]){N, S, C});
    tensor *p = op_permute(&v, (int[]){0, 2, 1});
    tensor *t = op_group_norm(p, groups, gamma, beta, eps, act);
    tensor *y = op_permute(t, (int[]){0, 2, 1});
    tensor_free(p);
    tensor_free(t);
    if (y) tensor_reshape(y, x->ndim, x->ne);
    return y;
}

/* O0 with a shift: the separate add, x (N, S, C) + shift (N, 1, C), then the reference. */
static tensor *gn_reference_shift(const tensor *x, const tensor *shift, int64_t N, int64_t S,
                                  int64_t C, int groups, const tensor *gamma,
                                  const tensor *beta, float eps, act_kind act) {
    tensor v = *x, sv = *shift;
    v.prepared = sv.prepared = NULL;
    tensor_reshape(&v, 3, (int64_t[]){N, S, C});
    tensor_reshape(&sv, 3, (int64_t[]){N, 1, C});
    tensor *t = op_add(&v, &sv);
    tensor *y = t ? gn_reference(t, N, S, C, groups, gamma, beta, eps, act) : NULL;
    tensor_free(t);
    if (y) tensor_reshape(y, x->ndim, x->ne);
    return y;
}

tensor *op_group_norm_nhwc_shift(const tensor *x, const tensor *shift, int groups,
                                 const tensor *gamma, const tensor *beta, float eps,
                                 act_kind act) {
    if (!x) return NULL;
    int64_t C = x->ndim >= 2 ? x->ne[x->ndim - 1] : 0;
    if (x->ndim < 2 || !ops_float_dt(x->dt) || groups < 1 || C % groups)
        return OPS_BAD("op_group_norm_nhwc", "needs float x (N, ..., C) with C divisible by %d",
                       groups);
    int64_t N = x->ne[0], S = N > 0 && C > 0 ? tensor_numel(x) / (N * C) : 0;
    if ((gamma && tensor_numel(gamma) != C) || (beta && tensor_numel(beta) != C))
        return OPS_BAD("op_group_norm_nhwc", "gamma/beta must have %lld values", (long long)C);
    if (shift && (tensor_numel(shift) != N * C || !ops_float_dt(shift->dt)))
        return OPS_BAD("op_group_norm_nhwc_shift", "shift must be float (N, C) = (%lld, %lld)",
                       (long long)N, (long long)C);
    if (backend_settings()->opt == OPT_O0 && N * S * C > 0)
        return shift ? gn_reference_shift(x, shift, N, S, C, groups, gamma, beta, eps, act)
                     : gn_reference(x, N, S, C, groups, gamma, beta, eps, act);
    tensor *y = ops_out(x->dt, x->ndim, x->ne);
    if (!y || N * S * C == 0 || ops_planning()) return y;   /* a plan runs no host loop */
    return gn_fused(x, shift, y, N, S, C, groups, gamma, beta, eps, act) ? NULL : y;
}

tensor *op_group_norm_nhwc(const tensor *x, int groups, const tensor *gamma, const tensor *beta,
                           float eps, act_kind act) {
    return op_group_norm_nhwc_shift(x, NULL, groups, gamma, beta, eps, act);
}
