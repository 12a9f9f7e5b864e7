/* test_ops_nhwc.c -- the channels-last ops against loops in double precision.
 *
 * Convolution: the NCHW reference of support/tensor_ref.c on the same numbers, compared
 * position by position in NHWC order, at every opt level in fp32 (1e-5 of the largest
 * reference magnitude), bf16 (1e-2) and int8 (3e-2, and not within 1e-5: the s8 path
 * ran). Group norm: its definition straight on (N, S, C) data, f32 and bf16 in and out,
 * including data far from zero (variance by cancellation would fail there). The phase
 * form of conv3x3(nearest 2x): against the reference convolution of the upsampled input.
 * Nearest resize: equal, bit for bit, to op_interpolate's legacy nearest on the permuted
 * tensor.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/engine.h"
#include "support/tensor_ref.h"
#include "tensor/arena.h"
#include "tensor/ops.h"
#include "tensor/tensor_internal.h"

#define TOL 1e-5
#define BF16_TOL 1e-2
#define INT8_TOL 3e-2

static dtype use(precision p, opt_level opt) {
    backend_config cfg = {ACCEL_CPU, opt, p, 0, 0};
    char err[256];
    assert_int_equal(backend_init(&cfg, err, sizeof err), 0);
    return backend_compute_dt();
}

static void check(const tensor *got, const double *want, int64_t n, double tol, const char *what,
                  opt_level opt) {
    assert_non_null(got);
    double e = ref_rel_err(got, want, n);
    if (!(e <= tol)) fail_msg("%s at O%d: rel err %g > %g", what, (int)opt, e, tol);
}

/* f32 (N,C,H,W) -> (N,H,W,C) copy. */
static tensor *to_nhwc(const tensor *x) {
    int64_t N = x->ne[0], C = x->ne[1], H = x->ne[2], W = x->ne[3], ne[4] = {N, H, W, C};
    tensor *y = tensor_new(DT_F32, 4, ne);
    const float *s = x->data;
    float *d = y->data;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < H * W; i++) d[(n * H * W + i) * C + c] = s[(n * C + c) * H * W + i];
    return y;
}

/* ---- convolution ---- */

typedef struct conv_args {
    int64_t N, C, H, W, K;
    int R, stride, pad, groups;
    act_kind act;
    int with_res;
} conv_args;

static void conv_case(uint64_t *seed, conv_args a) {
    int64_t xn[4] = {a.N, a.C, a.H, a.W}, wn[4] = {a.K, a.C / a.groups, a.R, a.R}, bn[1] = {a.K};
    int64_t OH = (a.H + 2 * a.pad - a.R) / a.stride + 1, OW = (a.W + 2 * a.pad - a.R) / a.stride + 1;
    int64_t rn[4] = {a.N, a.K, OH, OW}, n = a.N * a.K * OH * OW, plane = OH * OW;
    tensor *x = ref_rand(seed, 4, xn), *w = ref_rand(seed, 4, wn), *b = ref_rand(seed, 1, bn);
    tensor *res = a.with_res ? ref_rand(seed, 4, rn) : NULL;
    tensor *xc = to_nhwc(x), *rc = res ? to_nhwc(res) : NULL;
    double *nchw = alloc_ref(n), *want = alloc_ref(n);
    ref_conv2d(x, w, b, a.stride, a.pad, a.groups, nchw);
    for (int64_t i = 0; i < n; i++) {   /* i in NCHW order */
        int64_t k = i / plane % a.K, nn = i / (plane * a.K), p = i % plane;
        want[(nn * plane + p) * a.K + k] =
            ref_act(nchw[i], a.act) + (res ? ((float *)res->data)[i] : 0.0);
    }
    struct { precision p; double tol; } precs[] = {{PREC_FP32, TOL}, {PREC_BF16, BF16_TOL},
                                                   {PREC_INT8, INT8_TOL}};
    for (size_t pi = 0; pi < sizeof precs / sizeof precs[0]; pi++) {
        if (precs[pi].p == PREC_INT8 && a.groups != 1) continue;   /* int8 is ungrouped only */
        for (opt_level opt = OPT_O0; opt <= OPT_O3; opt++) {
            dtype dt = use(precs[pi].p, opt);
            /* Twice: the second call takes the cached primitive and prepared weights. */
            for (int rep = 0; rep < 2; rep++) {
                tensor *y = op_conv2d_nhwc(xc, w, b, a.stride, a.pad, a.groups, a.act, rc);
                assert_non_null(y);
                assert_int_equal(y->dt, dt);
                assert_int_equal(y->ne[1], OH);
                assert_int_equal(y->ne[2], OW);
                assert_int_equal(y->ne[3], a.K);
                check(y, want, n, precs[pi].tol, "conv2d_nhwc", opt);
                if (precs[pi].p == PREC_INT8 && !(ref_rel_err(y, want, n) > 1e-5))
                    fail_msg("conv2d_nhwc int8 at O%d is as exact as fp32", (int)opt);
                tensor_free(y);
            }
        }
    }
    free(nchw);
    free(want);
    tensor *t[] = {x, w, b, res, xc, rc};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) tensor_free(t[i]);
}

static void test_conv2d_nhwc(void **state) {
    (void)state;
    uint64_t seed = 0x5eed;
    conv_case(&seed, (conv_args){2, 5, 9, 7, 6, 3, 1, 1, 1, ACT_NONE, 0});
    conv_case(&seed, (conv_args){1, 4, 8, 11, 6, 3, 2, 1, 2, ACT_SILU, 0});
    conv_case(&seed, (conv_args){2, 3, 5, 5, 7, 1, 1, 0, 1, ACT_GELU, 1});
    conv_case(&seed, (conv_args){2, 32, 9, 9, 48, 3, 1, 1, 1, ACT_SILU, 1});
    conv_case(&seed, (conv_args){2, 32, 9, 9, 32, 3, 2, 1, 1, ACT_NONE, 0});   /* downsample */
    conv_case(&seed, (conv_args){2, 64, 4, 4, 32, 1, 1, 0, 1, ACT_NONE, 1});   /* skip 1x1 */
    conv_case(&seed, (conv_args){1, 6, 7, 9, 6, 3, 1, 1, 6, ACT_RELU, 1});     /* depthwise */
}

/* ---- group norm ---- */

/* The definition on x (N, S, C) in double; x's values as stored (f32 or bf16). */
static double *gn_ref(const tensor *x, int groups, const tensor *g, const tensor *b,
                      double eps, act_kind act) {
    int64_t C = x->ne[x->ndim - 1], N = x->ne[0], S = tensor_numel(x) / (N * C), cg = C / groups;
    double *want = alloc_ref(N * S * C);
    for (int64_t n = 0; n < N; n++)
        for (int gi = 0; gi < groups; gi++) {
            double mean = 0, var = 0;
            for (int64_t s = 0; s < S; s++)
                for (int64_t c = gi * cg; c < (gi + 1) * cg; c++)
                    mean += tensor_get_f32(x, (n * S + s) * C + c);
            mean /= (double)(cg * S);
            for (int64_t s = 0; s < S; s++)
                for (int64_t c = gi * cg; c < (gi + 1) * cg; c++) {
                    double d = tensor_get_f32(x, (n * S + s) * C + c) - mean;
                    var += d * d;
                }
            var /= (double)(cg * S);
            for (int64_t s = 0; s < S; s++)
                for (int64_t c = gi * cg; c < (gi + 1) * cg; c++) {
                    int64_t i = (n * S + s) * C + c;
                    double v = (tensor_get_f32(x, i) - mean) / sqrt(var + eps);
                    if (g) v = v * ((float *)g->data)[c] + ((float *)b->data)[c];
                    want[i] = ref_act(v, act);
                }
        }
    return want;
}

/* x + shift (N, C) per position, in f32 (exact for bf16 values of like magnitude); a
 * copy of x's values when shift is NULL. */
static tensor *gn_shifted(const tensor *x, const tensor *shift) {
    int64_t C = x->ne[x->ndim - 1], n = tensor_numel(x), S = n / (x->ne[0] * C);
    tensor *s = tensor_new(DT_F32, x->ndim, x->ne);
    for (int64_t i = 0; i < n; i++)
        ((float *)s->data)[i] = tensor_get_f32(x, i) +
                                (shift ? tensor_get_f32(shift, i / (S * C) * C + i % C) : 0.0f);
    return s;
}

/* With `shifted`, op_group_norm_nhwc_shift against the definition on x + shift. */
static void gn_case(uint64_t *seed, int nd, const int64_t *ne, int groups, int affine,
                    act_kind act, float offset, int shifted) {
    tensor *x = ref_rand(seed, nd, ne);
    int64_t C = ne[nd - 1], cn[1] = {C}, sn[2] = {ne[0], C}, n = tensor_numel(x);
    for (int64_t i = 0; i < n; i++) ((float *)x->data)[i] += offset;
    tensor *g = affine ? ref_rand(seed, 1, cn) : NULL, *b = affine ? ref_rand(seed, 1, cn) : NULL;
    tensor *sh = shifted ? ref_rand(seed, 2, sn) : NULL;
    tensor *xs = gn_shifted(x, sh);
    double *want = gn_ref(xs, groups, g, b, 1e-6, act);
    for (opt_level opt = OPT_O0; opt <= OPT_O3; opt++) {
        use(PREC_FP32, opt);
        tensor *y = op_group_norm_nhwc_shift(x, sh, groups, g, b, 1e-6f, act);
        check(y, want, n, TOL, "group_norm_nhwc f32", opt);
        assert_int_equal(y->dt, DT_F32);
        assert_int_equal(y->ndim, nd);
        tensor_free(y);
    }
    free(want);
    tensor_free(xs);
    /* bf16 in and out: against the definition on the bf16 values themselves; O0 rounds
     * x + shift to bf16 in its separate add (as ComfyUI does), the fused pass does not. */
    tensor *xb = op_cast(x, DT_BF16), *sb = sh ? op_cast(sh, DT_BF16) : NULL;
    xs = gn_shifted(xb, sb);
    tensor *xsb = op_cast(xs, DT_BF16);
    want = gn_ref(xs, groups, g, b, 1e-6, act);
    double *want_o0 = gn_ref(xsb, groups, g, b, 1e-6, act);
    for (opt_level opt = OPT_O0; opt <= OPT_O3; opt++) {
        use(PREC_BF16, opt);
        tensor *y = op_group_norm_nhwc_shift(xb, sb, groups, g, b, 1e-6f, act);
        check(y, opt == OPT_O0 ? want_o0 : want, n, BF16_TOL, "group_norm_nhwc bf16", opt);
        assert_int_equal(y->dt, DT_BF16);
        tensor_free(y);
    }
    free(want);
    free(want_o0);
    tensor *t[] = {xs, xsb, xb, sb, sh, x, g, b};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) tensor_free(t[i]);
}

static void test_group_norm_nhwc(void **state) {
    (void)state;
    uint64_t seed = 41;
    int64_t a[4] = {2, 5, 3, 12}, b[3] = {2, 7, 8}, c[4] = {1, 9, 9, 64}, one[4] = {2, 1, 1, 64};
    int64_t sd[4] = {2, 8, 8, 320}, odd[3] = {3, 130, 20};
    gn_case(&seed, 4, a, 4, 1, ACT_SILU, 0.0f, 0);
    gn_case(&seed, 3, b, 2, 0, ACT_NONE, 0.0f, 0);
    gn_case(&seed, 3, b, 8, 0, ACT_SILU, 0.0f, 0);
    gn_case(&seed, 4, c, 32, 1, ACT_NONE, 0.0f, 0);
    gn_case(&seed, 4, one, 32, 1, ACT_SILU, 0.0f, 0);   /* one position, N > 1 */
    gn_case(&seed, 4, sd, 32, 1, ACT_SILU, 0.0f, 0);    /* an SD1 level: 10 channels a group */
    gn_case(&seed, 3, odd, 5, 1, ACT_GELU, 0.0f, 0);    /* act outside the fused pass */
    /* Mean 50 times the spread: E[x^2] - mean^2 summed in f32 keeps ~3 digits of the
     * variance. (Much further out, x * a + b, PyTorch's form too, loses them instead.) */
    gn_case(&seed, 3, odd, 4, 1, ACT_SILU, 30.0f, 0);
    /* Long chunks (1000 rows each): bf16 statistics go through several f32 runs. */
    int64_t tall[3] = {1, 32000, 8};
    gn_case(&seed, 3, tall, 2, 1, ACT_SILU, 30.0f, 0);
}

/* The ResBlock's h + emb folded into the norm: a shift per (n, c), SD1-like and odd. */
static void test_group_norm_nhwc_shift(void **state) {
    (void)state;
    uint64_t seed = 43;
    int64_t sd[4] = {2, 8, 8, 320}, a[4] = {2, 5, 3, 12}, odd[3] = {3, 130, 20};
    gn_case(&seed, 4, sd, 32, 1, ACT_SILU, 0.0f, 1);
    gn_case(&seed, 4, a, 4, 0, ACT_NONE, 0.0f, 1);
    gn_case(&seed, 3, odd, 5, 1, ACT_GELU, 0.0f, 1);
    gn_case(&seed, 3, odd, 4, 1, ACT_SILU, 30.0f, 1);
    int64_t xn[4] = {2, 3, 3, 8}, bad[2] = {2, 4};
    tensor *x = ref_rand(&seed, 4, xn), *s = ref_rand(&seed, 2, bad);
    assert_null(op_group_norm_nhwc_shift(x, s, 2, NULL, NULL, 1e-5f, ACT_NONE));  /* (2, 4) */
    tensor_free(x);
    tensor_free(s);
}

/* SiLU written in the fused pass, over the whole range its exp sees (clamped ends too). */
static void test_group_norm_nhwc_silu_range(void **state) {
    (void)state;
    int64_t ne[3] = {1, 1, 2001}, cn[1] = {2001};
    tensor *x = tensor_new(DT_F32, 3, ne), *g = tensor_new(DT_F32, 1, cn);
    tensor *b = tensor_new(DT_F32, 1, cn);
    double *want = alloc_ref(2001);
    /* gamma 0: the output is act(beta), beta at 2001 points of [-100, 100]. */
    for (int i = 0; i < 2001; i++) {
        ((float *)x->data)[i] = (float)(i % 2 ? 1 : -1);
        ((float *)g->data)[i] = 0.0f;
        ((float *)b->data)[i] = (float)(i - 1000) * 0.1f;
        want[i] = ref_act(((float *)b->data)[i], ACT_SILU);
    }
    use(PREC_FP32, OPT_O1);
    tensor *y = op_group_norm_nhwc(x, 1, g, b, 1e-5f, ACT_SILU);
    assert_non_null(y);
    for (int i = 0; i < 2001; i++) {
        double e = fabs(((float *)y->data)[i] - want[i]);
        if (!(e <= 1e-6 * fabs(want[i]) + 1e-35))   /* below -87: both are ~0 */
            fail_msg("silu(%g) = %.9g, want %.9g", ((float *)b->data)[i], ((float *)y->data)[i],
                     want[i]);
    }
    tensor_free(y);
    tensor_free(x);
    tensor_free(g);
    tensor_free(b);
    free(want);
}

/* ---- conv3x3 of a nearest 2x upsample, by phases ---- */

/* op_conv2d_up2_nhwc against the reference convolution of the upsampled input. */
static void up2_case(uint64_t *seed, int64_t N, int64_t C, int64_t H, int64_t W, int64_t K) {
    int64_t xn[4] = {N, C, H, W}, un[4] = {N, C, 2 * H, 2 * W}, wn[4] = {K, C, 3, 3}, bn[1] = {K};
    int64_t plane = 4 * H * W, n = N * K * plane;
    tensor *x = ref_rand(seed, 4, xn), *w = ref_rand(seed, 4, wn), *b = ref_rand(seed, 1, bn);
    tensor *up = tensor_new(DT_F32, 4, un), *xc = to_nhwc(x);
    for (int64_t i = 0; i < N * C * plane; i++) {
        int64_t nc = i / plane, oy = i % plane / (2 * W), ox = i % (2 * W);
        ((float *)up->data)[i] = ((float *)x->data)[(nc * H + oy / 2) * W + ox / 2];
    }
    double *nchw = alloc_ref(n), *want = alloc_ref(n);
    ref_conv2d(up, w, b, 1, 1, 1, nchw);
    for (int64_t i = 0; i < n; i++)
        want[(i / (plane * K) * plane + i % plane) * K + i / plane % K] = nchw[i];
    struct { precision p; double tol; } precs[] = {{PREC_FP32, TOL}, {PREC_BF16, BF16_TOL}};
    for (size_t pi = 0; pi < 2; pi++)
        for (opt_level opt = OPT_O1; opt <= OPT_O3; opt++) {
            dtype dt = use(precs[pi].p, opt);
            tensor *w4[4];
            assert_int_equal(op_conv_up2_weights(w, dt, w4), 0);
            assert_int_equal(w4[0]->dt, dt);
            tensor *y = op_conv2d_up2_nhwc(xc, w4, b);
            assert_non_null(y);
            assert_int_equal(y->ne[1], 2 * H);
            assert_int_equal(y->ne[2], 2 * W);
            assert_int_equal(y->ne[3], K);
            check(y, want, n, precs[pi].tol, "conv2d_up2_nhwc", opt);
            tensor_free(y);
            for (int i = 0; i < 4; i++) tensor_free(w4[i]);
        }
    free(nchw);
    free(want);
    tensor *t[] = {x, w, b, up, xc};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) tensor_free(t[i]);
}

static void test_conv2d_up2_nhwc(void **state) {
    (void)state;
    uint64_t seed = 71;
    up2_case(&seed, 2, 8, 4, 4, 8);      /* the UNet's shape: square, C = K */
    up2_case(&seed, 1, 5, 3, 7, 6);      /* odd sizes, C != K */
    up2_case(&seed, 2, 16, 1, 2, 16);    /* one row: every tap of a column hits padding */
    tensor *w4[4], *w1 = tensor_new(DT_F32, 4, (int64_t[]){4, 4, 1, 1});
    use(PREC_FP32, OPT_O3);
    assert_int_equal(op_conv_up2_weights(w1, DT_F32, w4), -1);   /* 3x3 kernels only */
    assert_null(w4[0]);
    tensor_free(w1);
}

/* ---- nearest resize ---- */

static void nearest_case(uint64_t *seed, int64_t ih, int64_t iw, int64_t oh, int64_t ow,
                         dtype dt) {
    int64_t ne[4] = {2, 3, ih, iw};
    use(dt == DT_BF16 ? PREC_BF16 : PREC_FP32, OPT_O2);
    tensor *x32 = ref_rand(seed, 4, ne), *c32 = to_nhwc(x32);
    tensor *x = op_cast(x32, dt), *xc = op_cast(c32, dt);
    tensor *ref = op_interpolate(x, oh, ow, INTERP_NEAREST);
    tensor *y = op_interpolate_nearest_nhwc(xc, oh, ow);
    assert_non_null(y);
    assert_int_equal(y->dt, dt);
    assert_int_equal(y->ne[1], oh);
    assert_int_equal(y->ne[2], ow);
    assert_int_equal(y->ne[3], 3);
    for (int64_t n = 0; n < 2; n++)
        for (int64_t c = 0; c < 3; c++)
            for (int64_t p = 0; p < oh * ow; p++)
                assert_true(tensor_get_f32(y, (n * oh * ow + p) * 3 + c) ==
                            tensor_get_f32(ref, ((n * 3 + c) * oh * ow) + p));
    tensor *t[] = {x32, c32, x, xc, ref, y};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) tensor_free(t[i]);
}

static void test_interpolate_nearest_nhwc(void **state) {
    (void)state;
    uint64_t seed = 59;
    nearest_case(&seed, 5, 7, 10, 14, DT_F32);   /* 2x, the UNet's Upsample */
    nearest_case(&seed, 5, 7, 10, 14, DT_BF16);
    nearest_case(&seed, 5, 7, 7, 9, DT_F32);     /* non-integer ratios */
    nearest_case(&seed, 9, 8, 4, 3, DT_F32);     /* down */
    nearest_case(&seed, 6, 6, 6, 6, DT_F32);
}

/* A ResBlock-like chain allocates from the current arena, and nothing more once grown. */
static void test_nhwc_ops_use_arena(void **state) {
    (void)state;
    uint64_t seed = 67;
    int64_t xn[4] = {2, 6, 5, 16}, wn[4] = {16, 16, 3, 3};
    tensor *x = ref_rand(&seed, 4, xn), *w = ref_rand(&seed, 4, wn);
    use(PREC_FP32, OPT_O2);
    arena *a = arena_new(), *prev = arena_use(a);
    size_t cap = 0;
    for (int step = 0; step < 3; step++) {
        arena_reset(a);
        tensor *h = op_group_norm_nhwc(x, 4, NULL, NULL, 1e-5f, ACT_SILU);
        h = op_conv2d_nhwc(h, w, NULL, 1, 1, 1, ACT_NONE, x);
        h = op_interpolate_nearest_nhwc(h, 12, 10);
        assert_non_null(h);
        assert_int_equal(h->storage, T_ARENA);
        if (step == 1) cap = arena_capacity(a);
        if (step == 2) assert_int_equal(arena_capacity(a), cap);
    }
    arena_use(prev);
    arena_free(a);
    tensor_free(x);
    tensor_free(w);
}

static void test_bad_arguments_nhwc(void **state) {
    (void)state;
    uint64_t seed = 71;
    int64_t xn[4] = {1, 4, 4, 3}, wn[4] = {2, 4, 3, 3}, rn[4] = {1, 2, 4, 4};
    tensor *x = ref_rand(&seed, 4, xn), *w = ref_rand(&seed, 4, wn), *r = ref_rand(&seed, 4, rn);
    use(PREC_FP32, OPT_O1);
    assert_null(op_conv2d_nhwc(x, w, NULL, 1, 1, 1, ACT_NONE, NULL));   /* C = 3, w wants 4 */
    x->ne[3] = 4;
    x->ne[2] = 3;
    assert_null(op_conv2d_nhwc(x, w, NULL, 1, 1, 1, ACT_NONE, r));      /* residual is NCHW */
    assert_null(op_group_norm_nhwc(x, 3, NULL, NULL, 1e-5f, ACT_NONE));  /* 4 % 3 */
    assert_null(op_interpolate_nearest_nhwc(x, 0, 2));
    tensor_free(x);
    tensor_free(w);
    tensor_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_nhwc),
        cmocka_unit_test(test_group_norm_nhwc),
        cmocka_unit_test(test_group_norm_nhwc_shift),
        cmocka_unit_test(test_group_norm_nhwc_silu_range),
        cmocka_unit_test(test_conv2d_up2_nhwc),
        cmocka_unit_test(test_interpolate_nearest_nhwc),
        cmocka_unit_test(test_nhwc_ops_use_arena),
        cmocka_unit_test(test_bad_arguments_nhwc),
    };
    return cmocka_run_group_tests_name("ops_nhwc", tests, NULL, NULL);
}
