/* test_ops.c -- every op of ops.h against straightforward loops in double precision.
 *
 * Shapes are small, odd and random-valued; conv, linear and group norm run at every
 * opt level (O0 unfused, O1 fused post-ops, O2/O3 prepared weights in the primitive's
 * own layout) because each level takes a different code path. fp32 bound: 1e-5 of the
 * largest reference magnitude.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "support/tensor_ref.h"
#include "tensor/arena.h"
#include "tensor/ops.h"

#define TOL 1e-5

static void set_prec(precision p, opt_level opt) {
    backend_config cfg = {ACCEL_CPU, opt, p, 0, 0};
    char err[256];
    assert_int_equal(backend_init(&cfg, err, sizeof err), 0);
}

static void set_opt(opt_level opt) { set_prec(PREC_FP32, opt); }


static void check(const tensor *got, const double *want, int64_t n, double tol, const char *what) {
    double e = ref_rel_err(got, want, n);
    if (!(e <= tol)) fail_msg("%s: rel err %g > %g", what, e, tol);
}

/* ---- conv2d ---- */

static void conv_case(uint64_t *seed, int64_t N, int64_t C, int64_t H, int64_t W, int64_t K,
                      int R, int stride, int pad, int groups, act_kind act, int with_res) {
    int64_t xn[4] = {N, C, H, W}, wn[4] = {K, C / groups, R, R}, bn[1] = {K};
    tensor *x = ref_rand(seed, 4, xn), *w = ref_rand(seed, 4, wn), *b = ref_rand(seed, 1, bn);
    int64_t OH = (H + 2 * pad - R) / stride + 1, OW = (W + 2 * pad - R) / stride + 1;
    int64_t rn[4] = {N, K, OH, OW};
    tensor *res = with_res ? ref_rand(seed, 4, rn) : NULL;
    int64_t n = N * K * OH * OW;
    double *want = alloc_ref(n);
    ref_conv2d(x, w, b, stride, pad, groups, want);
    for (int64_t o = 0; o < n; o++)
        want[o] = ref_act(want[o], act) + (res ? ((float *)res->data)[o] : 0.0);
    for (opt_level opt = OPT_O0; opt <= OPT_O3; opt++) {
        set_opt(opt);
        /* Twice: the second call takes the cached primitive and prepared weights. */
        for (int rep = 0; rep < 2; rep++) {
            tensor *y = op_conv2d(x, w, b, stride, pad, groups, act, res);
            assert_non_null(y);
            assert_int_equal(y->ne[2], OH);
            assert_int_equal(y->ne[3], OW);
            check(y, want, n, TOL, "conv2d");
            tensor_free(y);
        }
    }
    free(want);
    tensor_free(x);
    tensor_free(w);
    tensor_free(b);
    tensor_free(res);
}

static void test_conv2d(void **state) {
    (void)state;
    uint64_t seed = 0x1234567;
    conv_case(&seed, 2, 5, 9, 7, 6, 3, 1, 1, 1, ACT_NONE, 0);
    conv_case(&seed, 1, 4, 8, 11, 6, 3, 2, 1, 2, ACT_SILU, 0);
    conv_case(&seed, 2, 3, 5, 5, 7, 1, 1, 0, 1, ACT_GELU, 1);
    conv_case(&seed, 1, 16, 6, 6, 32, 3, 1, 1, 1, ACT_SILU, 1);
    conv_case(&seed, 1, 6, 7, 9, 6, 3, 1, 1, 6, ACT_RELU, 1);   /* depthwise */
}

/* ---- linear / matmul ---- */

static void linear_case(uint64_t *seed, int64_t B, int64_t L, int64_t in, int64_t out,
                        int bias, act_kind act, int with_res) {
    int64_t xn[3] = {B, L, in}, wn[2] = {out, in}, bn[1] = {out}, rn[3] = {B, L, out};
    tensor *x = ref_rand(seed, 3, xn), *w = ref_rand(seed, 2, wn);
    tensor *b = bias ? ref_rand(seed, 1, bn) : NULL, *res = with_res ? ref_rand(seed, 3, rn) : NULL;
    int64_t M = B * L;
    double *want = alloc_ref(M * out);
    ref_linear(x, w, b, want);
    for (int64_t o = 0; o < M * out; o++)
        want[o] = ref_act(want[o], act) + (res ? ((float *)res->data)[o] : 0.0);
    for (opt_level opt = OPT_O0; opt <= OPT_O3; opt++) {
        set_opt(opt);
        for (int rep = 0; rep < 2; rep++) {
            tensor *y = op_linear(x, w, b, act, res);
            assert_non_null(y);
            assert_int_equal(y->ndim, 3);
            assert_int_equal(y->ne[2], out);
            check(y, want, M * out, TOL, "linear");
            tensor_free(y);
        }
    }
    free(want);
    tensor_free(x);
    tensor_free(w);
    tensor_free(b);
    tensor_free(res);
}

static void test_linear(void **state) {
    (void)state;
    uint64_t seed = 99;
    linear_case(&seed, 2, 5, 13, 7, 1, ACT_GELU, 1);
    linear_case(&seed, 1, 77, 64, 96, 1, ACT_QUICK_GELU, 0);
    linear_case(&seed, 3, 1, 17, 33, 0, ACT_NONE, 1);
    linear_case(&seed, 1, 9, 320, 320, 1, ACT_SILU, 0);
}

/* act(x w^T + b) * mul in f32 (1e-5) and bf16 (1e-2: inputs rounded to bf16), O0 the
 * separate product, O1+ the post-op; mul in the compute dtype as a model passes it. */
static void gated_case(uint64_t *seed, int64_t B, int64_t L, int64_t in, int64_t out, int bias,
                       act_kind act) {
    int64_t xn[3] = {B, L, in}, wn[2] = {out, in}, bn[1] = {out}, mn[3] = {B, L, out};
    tensor *x = ref_rand(seed, 3, xn), *w = ref_rand(seed, 2, wn), *m = ref_rand(seed, 3, mn);
    tensor *b = bias ? ref_rand(seed, 1, bn) : NULL;
    int64_t n = B * L * out;
    double *want = alloc_ref(n);
    ref_linear(x, w, b, want);
    for (int64_t o = 0; o < n; o++) want[o] = ref_act(want[o], act) * ((float *)m->data)[o];
    struct { precision p; dtype dt; double tol; } precs[] = {{PREC_FP32, DT_F32, TOL},
                                                             {PREC_BF16, DT_BF16, 1e-2}};
    for (size_t pi = 0; pi < 2; pi++) {
        tensor *mc = op_cast(m, precs[pi].dt);
        for (opt_level opt = OPT_O0; opt <= OPT_O3; opt++) {
            set_prec(precs[pi].p, opt);
            for (int rep = 0; rep < 2; rep++) {
                tensor *y = op_linear_gated(x, w, b, act, mc);
                assert_non_null(y);
                assert_int_equal(y->dt, precs[pi].dt);
                assert_int_equal(y->ne[2], out);
                check(y, want, n, precs[pi].tol, "linear_gated");
                tensor_free(y);
            }
        }
        tensor_free(mc);
    }
    set_opt(OPT_O0);
    free(want);
    tensor *t[] = {x, w, m, b};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) tensor_free(t[i]);
}

static void test_linear_gated(void **state) {
    (void)state;
    uint64_t seed = 0x9a7e;
    gated_case(&seed, 2, 5, 13, 7, 1, ACT_GELU);
    gated_case(&seed, 1, 64, 320, 1280, 1, ACT_GELU);   /* an SD1 GEGLU gate half, 64 tokens */
    gated_case(&seed, 3, 1, 17, 33, 0, ACT_SILU);
    gated_case(&seed, 1, 9, 16, 24, 1, ACT_NONE);
    int64_t xn[2] = {4, 8}, wn[2] = {6, 8}, mn[2] = {4, 5};
    tensor *x = ref_rand(&seed, 2, xn), *w = ref_rand(&seed, 2, wn), *m = ref_rand(&seed, 2, mn);
    assert_null(op_linear_gated(x, w, NULL, ACT_GELU, m));      /* mul (4, 5) vs out (4, 6) */
    assert_null(op_linear_gated(x, w, NULL, ACT_GELU, NULL));   /* a gate needs its multiplier */
    tensor_free(x);
    tensor_free(w);
    tensor_free(m);
}

static void matmul_case(uint64_t *seed, int64_t Ba, int64_t Bb, int64_t M, int64_t K, int64_t N,
                        int trans_b, float alpha) {
    int64_t an[3] = {Ba, M, K}, bn[3] = {Bb, trans_b ? N : K, trans_b ? K : N};
    tensor *a = ref_rand(seed, 3, an), *b = ref_rand(seed, 3, bn);
    int64_t B = Ba > Bb ? Ba : Bb;
    double *want = alloc_ref(B * M * N);
    for (int64_t i = 0; i < B; i++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double acc = 0;
                const float *ap = (float *)a->data + (Ba == 1 ? 0 : i) * M * K;
                const float *bp = (float *)b->data + (Bb == 1 ? 0 : i) * K * N;
                for (int64_t k = 0; k < K; k++)
                    acc += (double)ap[m * K + k] * (trans_b ? bp[n * K + k] : bp[k * N + n]);
                want[(i * M + m) * N + n] = alpha * acc;
            }
    tensor *y = op_matmul(a, b, trans_b, alpha);
    assert_non_null(y);
    assert_int_equal(y->ne[0], B);
    check(y, want, B * M * N, TOL, "matmul");
    tensor_free(y);
    free(want);
    tensor_free(a);
    tensor_free(b);
}

static void test_matmul(void **state) {
    (void)state;
    uint64_t seed = 7;
    set_opt(OPT_O1);
    matmul_case(&seed, 3, 3, 5, 7, 4, 0, 1.0f);
    matmul_case(&seed, 2, 2, 9, 8, 11, 1, 0.125f);
    matmul_case(&seed, 4, 1, 3, 6, 5, 0, 2.0f);
    matmul_case(&seed, 1, 3, 31, 17, 29, 1, 1.0f);
}

/* ---- norms ---- */

static void group_norm_case(uint64_t *seed, int nd, const int64_t *ne, int groups, int affine,
                            act_kind act) {
    tensor *x = ref_rand(seed, nd, ne);
    int64_t N = ne[0], C = ne[1], S = tensor_numel(x) / (N * C), cn[1] = {C};
    tensor *g = affine ? ref_rand(seed, 1, cn) : NULL, *b = affine ? ref_rand(seed, 1, cn) : NULL;
    double *want = alloc_ref(N * C * S);
    const float *xp = x->data;
    int64_t cg = C / groups;
    for (int64_t n = 0; n < N; n++)
        for (int gi = 0; gi < groups; gi++) {
            const float *p = xp + (n * C + gi * cg) * S;
            double mean = 0, var = 0;
            for (int64_t i = 0; i < cg * S; i++) mean += p[i];
            mean /= (double)(cg * S);
            for (int64_t i = 0; i < cg * S; i++) var += (p[i] - mean) * (p[i] - mean);
            var /= (double)(cg * S);
            for (int64_t i = 0; i < cg * S; i++) {
                int64_t c = gi * cg + i / S;
                double v = (p[i] - mean) / sqrt(var + 1e-6);
                if (affine) v = v * ((float *)g->data)[c] + ((float *)b->data)[c];
                want[(n * C + gi * cg) * S + i] = ref_act(v, act);
            }
        }
    for (opt_level opt = OPT_O0; opt <= OPT_O2; opt++) {
        set_opt(opt);
        tensor *y = op_group_norm(x, groups, g, b, 1e-6f, act);
        assert_non_null(y);
        check(y, want, N * C * S, TOL, "group_norm");
        tensor_free(y);
    }
    free(want);
    tensor_free(x);
    tensor_free(g);
    tensor_free(b);
}

static void test_group_norm(void **state) {
    (void)state;
    uint64_t seed = 31;
    int64_t a[4] = {2, 12, 5, 3}, b[3] = {2, 8, 7}, c[4] = {1, 64, 9, 9}, one[4] = {2, 64, 1, 1};
    group_norm_case(&seed, 4, a, 4, 1, ACT_SILU);
    group_norm_case(&seed, 3, b, 2, 0, ACT_NONE);
    group_norm_case(&seed, 3, b, 8, 0, ACT_SILU);
    group_norm_case(&seed, 4, c, 32, 1, ACT_NONE);
    /* One spatial element with N > 1: oneDNN 2.6 broadcast a (1,C,1) post-op operand
     * wrongly over (N,C,1) (the UNet's 1x1 bottom level under CFG). */
    group_norm_case(&seed, 4, one, 32, 1, ACT_SILU);
}

static void test_layer_norm(void **state) {
    (void)state;
    uint64_t seed = 5;
    set_opt(OPT_O1);
    for (int affine = 0; affine < 3; affine++) {
        int64_t ne[3] = {3, 4, 11 + affine * 20}, C = ne[2], rows = 12, cn[1] = {C};
        tensor *x = ref_rand(&seed, 3, ne);
        tensor *g = affine ? ref_rand(&seed, 1, cn) : NULL;
        tensor *b = affine == 2 ? ref_rand(&seed, 1, cn) : NULL;
        double *want = alloc_ref(rows * C);
        for (int64_t r = 0; r < rows; r++) {
            const float *p = (float *)x->data + r * C;
            double mean = 0, var = 0;
            for (int64_t i = 0; i < C; i++) mean += p[i];
            mean /= (double)C;
            for (int64_t i = 0; i < C; i++) var += (p[i] - mean) * (p[i] - mean);
            var /= (double)C;
            for (int64_t i = 0; i < C; i++) {
                double v = (p[i] - mean) / sqrt(var + 1e-5);
                if (g) v *= ((float *)g->data)[i];
                if (b) v += ((float *)b->data)[i];
                want[r * C + i] = v;
            }
        }
        tensor *y = op_layer_norm(x, g, b, 1e-5f);
        check(y, want, rows * C, TOL, "layer_norm");
        tensor_free(y);
        free(want);
        tensor_free(x);
        tensor_free(g);
        tensor_free(b);
    }
}

/* ---- softmax / attention ---- */


static void test_softmax(void **state) {
    (void)state;
    uint64_t seed = 11;
    int64_t ne[2] = {5, 37};
    tensor *x = ref_rand(&seed, 2, ne);
    double *want = alloc_ref(5 * 37);
    for (int64_t i = 0; i < 5 * 37; i++) want[i] = 4.0 * ((float *)x->data)[i];
    for (int r = 0; r < 5; r++) ref_softmax_row(want + r * 37, 37);
    tensor *x4 = op_scale(x, 4.0f, 0.0f);
    tensor *y = op_softmax(x4);
    check(y, want, 5 * 37, TOL, "softmax");
    tensor_free(x4);
    tensor_free(y);
    tensor_free(x);
    free(want);
}

static void attention_case(uint64_t *seed, int64_t B, int64_t Lq, int64_t Lk, int H, int64_t D,
                           int with_mask) {
    int64_t qn[3] = {B, Lq, H * D}, kn[3] = {B, Lk, H * D}, mn[2] = {Lq, Lk};
    tensor *q = ref_rand(seed, 3, qn), *k = ref_rand(seed, 3, kn), *v = ref_rand(seed, 3, kn);
    tensor *mask = NULL;
    if (with_mask) {   /* causal, as CLIP */
        mask = tensor_new(DT_F32, 2, mn);
        for (int64_t i = 0; i < Lq; i++)
            for (int64_t j = 0; j < Lk; j++) ((float *)mask->data)[i * Lk + j] = j > i ? -INFINITY : 0;
    }
    int64_t HD = H * D;
    double *want = alloc_ref(B * Lq * HD);
    ref_attention(q, k, v, H, mask, want);
    tensor *y = op_attention(q, k, v, H, mask);
    check(y, want, B * Lq * HD, TOL, "attention");
    tensor_free(y);
    free(want);
    tensor_free(q);
    tensor_free(k);
    tensor_free(v);
    tensor_free(mask);
}

/* O1: oneDNN primitives in query slices; O3: the fused kernel (test_flash_attn.c has
 * its own shapes and implementations). */
static void test_attention(void **state) {
    (void)state;
    for (opt_level opt = OPT_O1; opt <= OPT_O3; opt += 2) {
        uint64_t seed = 3;
        set_opt(opt);
        attention_case(&seed, 2, 33, 17, 3, 5, 0);
        attention_case(&seed, 1, 13, 13, 2, 8, 1);
        /* 16 MiB of scores hold 1024 rows of 4097 keys: 2500 queries take 3 slices. */
        attention_case(&seed, 1, 2500, 4097, 1, 4, 0);
    }
}

/* Peak arena use stays at the slice bound, not Lq x Lk; the fused kernel (O3) needs
 * only y and its packed copies of k and v (6 MiB here). */
static void test_attention_bounded(void **state) {
    (void)state;
    uint64_t seed = 8;
    int64_t n[3] = {2, 4096, 64};
    tensor *q = ref_rand(&seed, 3, n);
    size_t full = (size_t)2 * 2 * 4096 * 4096 * 4;   /* one full score matrix: 256 MiB */
    for (opt_level opt = OPT_O1; opt <= OPT_O3; opt += 2) {
        set_opt(opt);
        arena *a = arena_new();
        arena *prev = arena_use(a);
        tensor *y = op_attention(q, q, q, 2, NULL);
        assert_non_null(y);
        assert_true(arena_peak(a) < (opt == OPT_O3 ? full / 32 : full / 8));
        arena_use(prev);
        arena_free(a);
    }
    tensor_free(q);
}

/* ---- elementwise ---- */

static void test_act(void **state) {
    (void)state;
    uint64_t seed = 17;
    int64_t ne[2] = {7, 19};
    tensor *x = ref_rand(&seed, 2, ne);
    double want[7 * 19];
    for (act_kind a = ACT_NONE; a <= ACT_RELU; a++) {
        for (int i = 0; i < 7 * 19; i++) want[i] = ref_act(3.0 * ((float *)x->data)[i], a);
        tensor *x3 = op_scale(x, 3.0f, 0.0f), *y = op_act(x3, a);
        check(y, want, 7 * 19, TOL, "act");
        tensor_free(x3);
        tensor_free(y);
    }
    tensor_free(x);
}

static void test_geglu(void **state) {
    (void)state;
    uint64_t seed = 23;
    int64_t ne[3] = {2, 5, 2 * 13};
    tensor *x = ref_rand(&seed, 3, ne);
    double want[2 * 5 * 13];
    for (int r = 0; r < 10; r++)
        for (int i = 0; i < 13; i++) {
            const float *p = (float *)x->data + r * 26;
            want[r * 13 + i] = p[i] * ref_act(p[13 + i], ACT_GELU);
        }
    tensor *y = op_geglu(x);
    assert_int_equal(y->ne[2], 13);
    check(y, want, 130, TOL, "geglu");
    tensor_free(y);
    tensor_free(x);
}

static void binary_case(uint64_t *seed, int bnd, const int64_t *bne, int mul) {
    int64_t an[4] = {2, 3, 4, 5};
    tensor *a = ref_rand(seed, 4, an), *b = ref_rand(seed, bnd, bne);
    double want[120];
    int64_t bd[4];
    for (int i = 0; i < 4; i++) bd[i] = i < 4 - bnd ? 1 : bne[i - (4 - bnd)];
    for (int64_t i = 0; i < 120; i++) {
        int64_t idx[4] = {i / 60, i / 20 % 3, i / 5 % 4, i % 5}, bi = 0;
        for (int d = 0; d < 4; d++) bi = bi * bd[d] + (bd[d] == 1 ? 0 : idx[d]);
        double av = ((float *)a->data)[i], bv = ((float *)b->data)[bi];
        want[i] = mul ? av * bv : av + bv;
    }
    tensor *y = mul ? op_mul(a, b) : op_add(a, b);
    check(y, want, 120, TOL, mul ? "mul" : "add");
    tensor_free(y);
    tensor_free(a);
    tensor_free(b);
}

static void test_binary(void **state) {
    (void)state;
    uint64_t seed = 41;
    int64_t same[4] = {2, 3, 4, 5}, chan[3] = {3, 1, 1}, last[1] = {5}, mid[3] = {3, 1, 5}, one[1] = {1};
    binary_case(&seed, 4, same, 0);
    binary_case(&seed, 3, chan, 1);
    binary_case(&seed, 1, last, 0);
    binary_case(&seed, 3, mid, 1);
    binary_case(&seed, 1, one, 0);
    /* b in another dtype (an f16 bias on f32 activations) is converted first. */
    int64_t hn[1] = {5};
    tensor *a5 = ref_rand(&seed, 4, same), *b5 = ref_rand(&seed, 1, hn), *h5 = op_cast(b5, DT_F16);
    tensor *sum = op_add(a5, h5);
    assert_non_null(sum);
    assert_int_equal(sum->dt, DT_F32);
    tensor *hb = op_cast(h5, DT_F32);
    for (int i = 0; i < 120; i++)
        assert_true(((float *)sum->data)[i] == ((float *)a5->data)[i] + ((float *)hb->data)[i % 5]);
    tensor *tt[] = {a5, b5, h5, sum, hb};
    for (size_t i = 0; i < 5; i++) tensor_free(tt[i]);
    int64_t bad[1] = {4};
    tensor *a = ref_rand(&seed, 4, same), *b = ref_rand(&seed, 1, bad);
    assert_null(op_add(a, b));
    tensor_free(a);
    tensor_free(b);
}

static void test_scale(void **state) {
    (void)state;
    uint64_t seed = 43;
    int64_t ne[1] = {101};
    tensor *x = ref_rand(&seed, 1, ne);
    double want[101];
    for (int i = 0; i < 101; i++) want[i] = 0.18215 * ((float *)x->data)[i] - 0.5;
    tensor *y = op_scale(x, 0.18215f, -0.5f);
    check(y, want, 101, TOL, "scale");
    tensor_free(y);
    tensor_free(x);
}

/* ---- data movement ---- */

static void test_concat_slice_permute(void **state) {
    (void)state;
    uint64_t seed = 47;
    int64_t an[4] = {2, 3, 4, 5}, bn[4] = {2, 6, 4, 5};
    tensor *a = ref_rand(&seed, 4, an), *b = ref_rand(&seed, 4, bn);
    tensor *c = op_concat(a, b, 1);
    assert_int_equal(c->ne[1], 9);
    const float *cp = c->data, *ap = a->data, *bp = b->data;
    for (int n = 0; n < 2; n++) {
        assert_memory_equal(cp + n * 180, ap + n * 60, 60 * 4);
        assert_memory_equal(cp + n * 180 + 60, bp + n * 120, 120 * 4);
    }
    tensor *s = op_slice(c, 1, 3, 6);
    assert_memory_equal(s->data, b->data, b->nbytes);
    tensor *s2 = op_slice(a, -1, 1, 3);
    for (int i = 0; i < 24; i++)
        for (int j = 0; j < 3; j++)
            assert_true(((float *)s2->data)[i * 3 + j] == ap[i * 5 + 1 + j]);
    int perm[4] = {0, 2, 3, 1};
    tensor *p = op_permute(a, perm);
    assert_int_equal(p->ne[1], 4);
    assert_int_equal(p->ne[3], 3);
    for (int n = 0; n < 2; n++)
        for (int ch = 0; ch < 3; ch++)
            for (int h = 0; h < 4; h++)
                for (int w = 0; w < 5; w++)
                    assert_true(((float *)p->data)[((n * 4 + h) * 5 + w) * 3 + ch] ==
                                ap[((n * 3 + ch) * 4 + h) * 5 + w]);
    int64_t odd[4] = {2, 3, 4, 6};
    tensor *o = ref_rand(&seed, 4, odd);
    assert_null(op_concat(a, o, 1));
    assert_null(op_slice(a, 1, 2, 2));
    int notperm[4] = {0, 1, 1, 2};
    assert_null(op_permute(a, notperm));
    tensor *e3 = op_concat(a, b, -3);
    assert_int_equal(e3->ne[1], 9);
    tensor_free(e3);
    tensor_free(o);
    tensor_free(p);
    tensor_free(s2);
    tensor_free(s);
    tensor_free(c);
    tensor_free(a);
    tensor_free(b);
}

static void test_cast(void **state) {
    (void)state;
    int64_t ne[1] = {8};
    tensor *x = tensor_new(DT_F32, 1, ne);
    float v[8] = {1.0f, -2.5f, 3.99f, -3.99f, 1.00390625f, 65504.0f, 1e-8f, 300.7f};
    memcpy(x->data, v, sizeof v);
    tensor *h = op_cast(x, DT_F16), *bf = op_cast(x, DT_BF16), *i8 = op_cast(x, DT_I8);
    tensor *u8 = op_cast(x, DT_U8), *i64 = op_cast(x, DT_I64);
    assert_non_null(h);
    uint16_t *hp = h->data, *bp = bf->data;
    assert_int_equal(hp[0], 0x3c00);
    assert_int_equal(hp[1], 0xc100);
    assert_int_equal(hp[5], 0x7bff);
    assert_int_equal(bp[0], 0x3f80);
    assert_int_equal(bp[4], 0x3f80);   /* 1 + 2^-8 ties to even */
    int8_t *ip = i8->data;             /* truncation toward zero, saturating */
    assert_int_equal(ip[2], 3);
    assert_int_equal(ip[3], -3);
    assert_int_equal(ip[7], 127);
    assert_int_equal(((uint8_t *)u8->data)[1], 0);
    assert_int_equal(((uint8_t *)u8->data)[7], 255);
    assert_int_equal(((int64_t *)i64->data)[7], 300);
    tensor *back = op_cast(i64, DT_F32), *hb = op_cast(h, DT_F32);
    assert_true(((float *)back->data)[3] == -3.0f);
    assert_true(((float *)hb->data)[1] == -2.5f);
    tensor *t[] = {h, bf, i8, u8, i64, back, hb, x};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) tensor_free(t[i]);
}

/* ---- interpolate ---- */

static double interp_cubic(double t, int tap) {
    const double A = -0.75;
    double x = tap == 0 ? t + 1 : tap == 1 ? t : tap == 2 ? 1 - t : 2 - t;
    return x <= 1 ? ((A + 2) * x - (A + 3)) * x * x + 1 : ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
}

static int64_t clampi(int64_t v, int64_t n) { return v < 0 ? 0 : v >= n ? n - 1 : v; }

/* torch's formulas (align_corners=False), straight from the definitions. */
static double interp_ref(const float *p, int64_t ih, int64_t iw, int64_t oh, int64_t ow,
                         int64_t y, int64_t x, interp_kind mode) {
    double sh = (double)ih / oh, sw = (double)iw / ow;
    switch (mode) {
    case INTERP_NEAREST:
        return p[clampi((int64_t)floor(y * sh), ih) * iw + clampi((int64_t)floor(x * sw), iw)];
    case INTERP_NEAREST_EXACT:
        return p[clampi((int64_t)floor((y + 0.5) * sh), ih) * iw +
                 clampi((int64_t)floor((x + 0.5) * sw), iw)];
    case INTERP_BILINEAR: {
        double fy = fmax((y + 0.5) * sh - 0.5, 0), fx = fmax((x + 0.5) * sw - 0.5, 0);
        int64_t y0 = (int64_t)fy, x0 = (int64_t)fx;
        int64_t y1 = y0 + (y0 < ih - 1), x1 = x0 + (x0 < iw - 1);
        double ly = fy - y0, lx = fx - x0;
        return (1 - ly) * ((1 - lx) * p[y0 * iw + x0] + lx * p[y0 * iw + x1]) +
               ly * ((1 - lx) * p[y1 * iw + x0] + lx * p[y1 * iw + x1]);
    }
    case INTERP_BICUBIC: {
        double fy = (y + 0.5) * sh - 0.5, fx = (x + 0.5) * sw - 0.5, v = 0;
        int64_t y0 = (int64_t)floor(fy), x0 = (int64_t)floor(fx);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                v += interp_cubic(fy - y0, i) * interp_cubic(fx - x0, j) *
                     p[clampi(y0 - 1 + i, ih) * iw + clampi(x0 - 1 + j, iw)];
        return v;
    }
    default: {
        int64_t y0 = y * ih / oh, y1 = ((y + 1) * ih + oh - 1) / oh;
        int64_t x0 = x * iw / ow, x1 = ((x + 1) * iw + ow - 1) / ow;
        double v = 0;
        for (int64_t i = y0; i < y1; i++)
            for (int64_t j = x0; j < x1; j++) v += p[i * iw + j];
        return v / (double)((y1 - y0) * (x1 - x0));
    }
    }
}

static void interp_case(uint64_t *seed, int64_t ih, int64_t iw, int64_t oh, int64_t ow,
                        interp_kind mode) {
    int64_t ne[4] = {2, 3, ih, iw};
    tensor *x = ref_rand(seed, 4, ne);
    double *want = alloc_ref(6 * oh * ow);
    for (int p = 0; p < 6; p++)
        for (int64_t y = 0; y < oh; y++)
            for (int64_t xx = 0; xx < ow; xx++)
                want[(p * oh + y) * ow + xx] =
                    interp_ref((float *)x->data + p * ih * iw, ih, iw, oh, ow, y, xx, mode);
    tensor *y = op_interpolate(x, oh, ow, mode);
    check(y, want, 6 * oh * ow, TOL, "interpolate");
    tensor_free(y);
    free(want);
    tensor_free(x);
}

static void test_interpolate(void **state) {
    (void)state;
    uint64_t seed = 53;
    for (interp_kind m = INTERP_NEAREST; m <= INTERP_AREA; m++) {
        interp_case(&seed, 5, 7, 10, 14, m);
        interp_case(&seed, 5, 7, 7, 9, m);
        interp_case(&seed, 9, 8, 4, 3, m);
        interp_case(&seed, 6, 6, 6, 6, m);
    }
    int64_t ne[4] = {1, 2, 3, 5};
    tensor *x = ref_rand(&seed, 4, ne), *u = op_upsample_nearest2x(x);
    assert_int_equal(u->ne[2], 6);
    assert_int_equal(u->ne[3], 10);
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < 6; y++)
            for (int xx = 0; xx < 10; xx++)
                assert_true(((float *)u->data)[(c * 6 + y) * 10 + xx] ==
                            ((float *)x->data)[(c * 3 + y / 2) * 5 + xx / 2]);
    tensor_free(u);
    tensor_free(x);
}

/* Ops allocate from the current arena and nothing more once it has grown. */
static void test_ops_use_arena(void **state) {
    (void)state;
    uint64_t seed = 61;
    set_opt(OPT_O2);
    int64_t xn[4] = {1, 8, 6, 6}, wn[4] = {8, 8, 3, 3};
    tensor *x = ref_rand(&seed, 4, xn), *w = ref_rand(&seed, 4, wn);
    arena *a = arena_new();
    arena *prev = arena_use(a);
    size_t cap = 0;
    for (int step = 0; step < 3; step++) {
        arena_reset(a);
        tensor *h = op_conv2d(x, w, NULL, 1, 1, 1, ACT_SILU, NULL);
        h = op_group_norm(h, 4, NULL, NULL, 1e-5f, ACT_SILU);
        h = op_conv2d(h, w, NULL, 1, 1, 1, ACT_NONE, x);
        assert_non_null(h);
        assert_int_equal(h->storage, T_ARENA);
        if (step == 1) cap = arena_capacity(a);
        if (step == 2) assert_int_equal(arena_capacity(a), cap);
    }
    assert_true(backend_bytes_in_use() > 0);
    arena_use(prev);
    arena_free(a);
    tensor_free(x);
    tensor_free(w);
}

static void test_bad_arguments(void **state) {
    (void)state;
    uint64_t seed = 67;
    int64_t xn[4] = {1, 3, 4, 4}, wn[4] = {2, 4, 3, 3}, ln[2] = {3, 5}, wl[2] = {4, 6};
    tensor *x = ref_rand(&seed, 4, xn), *w = ref_rand(&seed, 4, wn);
    tensor *l = ref_rand(&seed, 2, ln), *wlt = ref_rand(&seed, 2, wl);
    assert_null(op_conv2d(x, w, NULL, 1, 1, 1, ACT_NONE, NULL));
    assert_null(op_linear(l, wlt, NULL, ACT_NONE, NULL));
    assert_null(op_group_norm(x, 2, NULL, NULL, 1e-5f, ACT_NONE));
    assert_null(op_attention(l, l, l, 2, NULL));
    assert_null(op_act(NULL, ACT_SILU));
    assert_null(op_interpolate(l, 2, 2, INTERP_BILINEAR));
    tensor_free(x);
    tensor_free(w);
    tensor_free(l);
    tensor_free(wlt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d),       cmocka_unit_test(test_linear),
        cmocka_unit_test(test_linear_gated),
        cmocka_unit_test(test_matmul),       cmocka_unit_test(test_group_norm),
        cmocka_unit_test(test_layer_norm),   cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_attention),    cmocka_unit_test(test_attention_bounded),
        cmocka_unit_test(test_act),          cmocka_unit_test(test_geglu),
        cmocka_unit_test(test_binary),       cmocka_unit_test(test_scale),
        cmocka_unit_test(test_concat_slice_permute), cmocka_unit_test(test_cast),
        cmocka_unit_test(test_interpolate),  cmocka_unit_test(test_ops_use_arena),
        cmocka_unit_test(test_bad_arguments),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    backend_shutdown();
    return rc;
}
