/* ops_conv.c -- 2-d convolution: one oneDNN convolution primitive.
 *
 * Bias, activation and residual are fused at O1 and up (bias in the primitive, act as
 * an eltwise post-op, residual as a sum post-op over a destination pre-filled with
 * it). O0 runs the same convolution without post-ops, then eltwise and binary
 * primitives: the unfused reference. From O2 the primitive picks its own weight layout
 * (format any), reordered once and kept on the tensor (tensor.prepared). Under
 * precision int8 an ungrouped convolution of a persistent weight runs in s8 (int8.h).
 *
 * Activations come in two layouts over the same logical (N,C,H,W) descriptor: plain
 * NCHW (op_conv2d), where from O2 the primitive also picks the activation layout and
 * they are reordered in and out around every call, and channels last (op_conv2d_nhwc:
 * strides of acdb), passed to the primitive as they are at every level. NHWC is what
 * oneDNN 2.6's brgemm convolutions choose for themselves on AVX-512 and AMX, f32 and
 * bf16 alike, so a model that keeps its activations NHWC runs them with no reorder.
 * Channels-last convolutions take their weights in the primitive's layout at every
 * level, O0 and O1 too: over plain OIHW weights oneDNN 2.6 has only its reference
 * kernel for NHWC (`ref:any`, measured on the UNet at O1), orders of magnitude slower.
 */
#include "tensor/ops_internal.h"
#include "backend/backend.h"
#include "backend/engine.h"
#include "tensor/int8.h"
#include "tensor/flops.h"
#include "tensor/prepare.h"

#include <string.h>

typedef struct {
    dnnl_memory_desc_t src, wei, bias, dst;
    int stride, pad_l[2], pad_r[2], has_bias, any;   /* pads: (top, left), (bottom, right) */
    int nhwc;    /* activations channels last: src and dst keep their strides */
    dtype cdt;   /* compute dtype: src, weights and dst of the primitive */
    int int8;    /* s8 src and weights, f32 dst, bias as a post-op (int8.h) */
    dnnl_memory_desc_t chan;      /* (1, K, 1, 1) f32: int8 scale and bias post-op operand */
    act_kind act;
    int sum;
} conv_ctx;

/* oneDNN 2.6 lists its brgemm convolution first, but for bf16 channels-last 3x3
 * convolutions at stride 1 its older AMX kernel (jit:avx512_core_amx) is faster where
 * the picture is small, measured per SD1.5 UNet shape on the 16-core Xeon: 8x8 1.41 ->
 * 1.18 ms, 16x16 3.81 -> 2.83 ms (C = K = 1280), 64x64 2.53 -> 2.28 ms (320); at 32x32
 * within 5% either way. The 2x2 phase convolutions of op_conv2d_up2_nhwc take it too
 * (timed only inside the whole UNet step). The choice depends only on the shape, so a
 * given prompt always runs the same kernels (and gives the same picture). */
static int conv_prefer_jit_amx(const conv_ctx *c) {
    int64_t r = c->wei.dims[2];
    return c->nhwc && !c->int8 && c->cdt == DT_BF16 && c->stride == 1 && c->wei.ndims == 4 &&
           (r == 3 || r == 2) && c->wei.dims[3] == r;
}

/* The first implementation oneDNN offers whose name says jit AMX, or NULL. */
static dnnl_primitive_desc_t conv_pick_jit_amx(const dnnl_convolution_desc_t *d,
                                               const_dnnl_primitive_attr_t attr) {
    dnnl_primitive_desc_iterator_t it;
    if (dnnl_primitive_desc_iterator_create(&it, d, attr, backend_engine(), NULL) != dnnl_success)
        return NULL;
    dnnl_primitive_desc_t pick = NULL;
    do {
        dnnl_primitive_desc_t pd = dnnl_primitive_desc_iterator_fetch(it);
        const char *name = "";
        if (pd) dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name);
        if (pd && strncmp(name, "jit:", 4) == 0 && strstr(name, "amx")) pick = pd;
        else if (pd) dnnl_primitive_desc_destroy(pd);
    } while (!pick && dnnl_primitive_desc_iterator_next(it) == dnnl_success);
    dnnl_primitive_desc_iterator_destroy(it);
    return pick;
}

static dnnl_primitive_desc_t make_conv(void *p) {
    conv_ctx *c = p;
    dnnl_memory_desc_t src, wei, dst, bias;
    /* int8 convolutions exist only in blocked/NHWC layouts: always `any` for them. */
    int any = c->any || c->int8 || c->nhwc, act_any = any && !c->nhwc;
    dnn_md_as(&src, &c->src, c->int8 ? DT_I8 : c->cdt, act_any);
    dnn_md_as(&wei, &c->wei, c->int8 ? DT_I8 : c->cdt, any);
    dnn_md_as(&dst, &c->dst, c->cdt, act_any);
    dnn_md_as(&bias, &c->bias, DT_F32, 0);
    dnnl_dims_t strides = {c->stride, c->stride}, pl = {c->pad_l[0], c->pad_l[1]};
    dnnl_dims_t pr = {c->pad_r[0], c->pad_r[1]};
    dnnl_convolution_desc_t d;
    if (dnnl_convolution_forward_desc_init(&d, dnnl_forward_inference, dnnl_convolution_direct,
                                           &src, &wei, c->has_bias && !c->int8 ? &bias : NULL, &dst,
                                           strides, pl, pr) != dnnl_success)
        return NULL;
    dnnl_primitive_attr_t attr = c->int8 ? int8_attr(&c->chan, c->has_bias, c->act, c->sum)
                                         : dnn_attr(1.0f, c->act, c->sum, NULL);
    dnnl_primitive_desc_t pd = conv_prefer_jit_amx(c) ? conv_pick_jit_amx(&d, attr) : NULL;
    if (!pd) dnnl_primitive_desc_create(&pd, &d, attr, backend_engine(), NULL);
    dnnl_primitive_attr_destroy(attr);
    return pd;
}

/* Logical sizes of one call, whatever the activations' layout. */
typedef struct {
    int64_t N, C, H, W, K, OH, OW;
    int nhwc;
} conv_geom;

/* Descriptor of an activation (n, c, h, w) in the call's layout. */
static void conv_act_md(dnnl_memory_desc_t *md, dtype dt, int64_t n, int64_t c, int64_t h,
                        int64_t w, int nhwc) {
    int64_t dims[4] = {n, c, h, w}, nchw[4] = {c * h * w, h * w, w, 1};
    int64_t cl[4] = {h * w * c, 1, w * c, c};
    dnn_md_strided(md, dt, 4, dims, nhwc ? cl : nchw);
}

static tensor *conv_check(const char *op, conv_geom *g, const tensor *x, const tensor *w,
                          const tensor *bias, int stride, int pad, int groups,
                          const tensor *residual) {
    if (x->ndim != 4 || w->ndim != 4 || stride < 1 || pad < 0 || groups < 1)
        return OPS_BAD(op, "needs x %s, w (K,C/g,R,S), stride >= 1, pad >= 0",
                       g->nhwc ? "(N,H,W,C)" : "(N,C,H,W)");
    if (!ops_float_dt(x->dt) || !ops_float_dt(w->dt))
        return OPS_BAD(op, "dtypes %s, %s", dtype_name(x->dt), dtype_name(w->dt));
    g->N = x->ne[0];
    g->C = x->ne[g->nhwc ? 3 : 1];
    g->H = x->ne[g->nhwc ? 1 : 2];
    g->W = x->ne[g->nhwc ? 2 : 3];
    g->K = w->ne[0];
    if (g->C != w->ne[1] * groups || w->ne[0] % groups)
        return OPS_BAD(op, "x has %lld channels, w expects %lld x %d groups",
                       (long long)g->C, (long long)w->ne[1], groups);
    if (bias && tensor_numel(bias) != w->ne[0])
        return OPS_BAD(op, "bias has %lld values for %lld outputs",
                       (long long)tensor_numel(bias), (long long)w->ne[0]);
    if (g->H + 2 * pad < w->ne[2] || g->W + 2 * pad < w->ne[3])
        return OPS_BAD(op, "kernel larger than the padded input");
    g->OH = (g->H + 2 * pad - w->ne[2]) / stride + 1;
    g->OW = (g->W + 2 * pad - w->ne[3]) / stride + 1;
    int64_t want[4] = {g->N, g->K, g->OH, g->OW};
    if (g->nhwc) {
        want[1] = g->OH;
        want[2] = g->OW;
        want[3] = g->K;
    }
    int same = residual && residual->ndim == 4 && ops_float_dt(residual->dt);
    for (int i = 0; same && i < 4; i++) same = residual->ne[i] == want[i];
    if (residual && !same) return OPS_BAD(op, "residual shape differs from the output");
    return (tensor *)x;   /* any non-NULL: arguments are fine */
}

/* The float convolution call: src, (prepared) weights, bias, dst. */
static int conv_exec(const conv_ctx *c, const pentry *e, const tensor *x, const tensor *w,
                     const tensor *bias, tensor *y) {
    dnn_arg a[4] = {{DNNL_ARG_SRC, &c->src, x->data}, {DNNL_ARG_DST, &c->dst, y->data}};
    int n = 2;
    a[n++] = prepare_weights_arg(w, e, &c->wei);
    if (bias) a[n++] = (dnn_arg){DNNL_ARG_BIAS, &c->bias, bias->data};
    return dnn_exec_any(e, n, a, c->sum);
}

/* pads: top, left, bottom, right. */
static tensor *conv_run(const conv_geom *g, const tensor *x, const tensor *w,
                        const tensor *bias, int stride, const int pads[4], int groups,
                        act_kind act, const tensor *residual) {
    opt_level opt = backend_settings()->opt;
    int fuse = opt >= OPT_O1;
    int64_t K = g->K, one_ne[1] = {K};
    int64_t nchw[4] = {g->N, K, g->OH, g->OW}, nhwc[4] = {g->N, g->OH, g->OW, K};
    dtype cdt = backend_compute_dt();
    tensor *y = ops_out(cdt, 4, g->nhwc ? nhwc : nchw);
    if (!y || tensor_numel(y) == 0) return y;

    conv_ctx c = {.cdt = cdt, .int8 = backend_int8() && groups == 1 && w->storage != T_ARENA,
                  .stride = stride, .pad_l = {pads[0], pads[1]}, .pad_r = {pads[2], pads[3]},
                  .has_bias = bias != NULL, .any = opt >= OPT_O2,
                  .nhwc = g->nhwc, .act = fuse ? act : ACT_NONE, .sum = fuse && residual};
    conv_act_md(&c.src, x->dt, g->N, g->C, g->H, g->W, g->nhwc);
    conv_act_md(&c.dst, y->dt, g->N, K, g->OH, g->OW, g->nhwc);
    if (groups == 1) {
        dnn_md_of(&c.wei, w);
    } else {
        int64_t gd[5] = {groups, K / groups, w->ne[1], w->ne[2], w->ne[3]};
        dnn_md(&c.wei, w->dt, 5, gd);
    }
    if (bias) dnn_md(&c.bias, bias->dt, 1, one_ne);
    int64_t po_ne[4] = {1, K, 1, 1};
    dnn_md(&c.chan, DT_F32, 4, po_ne);

    pkey k;
    pkey_init(&k, PK_CONV);
    pkey_tensor(&k, x);
    pkey_tensor(&k, w);
    pkey_push(&k, bias ? (int)bias->dt : -1);
    pkey_push(&k, stride);
    for (int i = 0; i < 4; i++) pkey_push(&k, pads[i]);
    pkey_push(&k, groups);
    pkey_push(&k, c.act);
    pkey_push(&k, c.sum);
    pkey_push(&k, c.any);
    pkey_push(&k, cdt);
    pkey_push(&k, c.int8);
    pkey_push(&k, c.nhwc);
    const pentry *e = pcache_get(&k, make_conv, &c);
    if (!e) return dnn_fail("convolution primitive", dnnl_unimplemented), NULL;

    flops_add(2.0 * (double)tensor_numel(y) * (double)(w->ne[1] * w->ne[2] * w->ne[3]));
    if (c.sum && ops_copy(y, residual)) return NULL;
    if (c.int8) {
        int8_call ic = {e, x, &c.src, w, &c.wei, 0, bias, &c.chan, y, &c.dst, c.sum};
        if (int8_run(&ic)) return NULL;
    } else if (conv_exec(&c, e, x, w, bias, y)) {
        return NULL;
    }
    if (!fuse && (run_act_inplace(y, act) || (residual && run_binary_inplace(dnnl_binary_add, y, residual))))
        return NULL;
    return y;
}

/* The public convolutions: checked, then run with the same pad on every side. */
static tensor *conv_op(const char *op, int nhwc, const tensor *x, const tensor *w,
                       const tensor *bias, int stride, int pad, int groups, act_kind act,
                       const tensor *residual) {
    conv_geom g = {.nhwc = nhwc};
    if (!x || !w || !conv_check(op, &g, x, w, bias, stride, pad, groups, residual)) return NULL;
    return conv_run(&g, x, w, bias, stride, (int[]){pad, pad, pad, pad}, groups, act, residual);
}

tensor *op_conv2d(const tensor *x, const tensor *w, const tensor *bias,
                  int stride, int pad, int groups, act_kind act, const tensor *residual) {
    return conv_op("op_conv2d", 0, x, w, bias, stride, pad, groups, act, residual);
}

tensor *op_conv2d_nhwc(const tensor *x, const tensor *w, const tensor *bias,
                       int stride, int pad, int groups, act_kind act, const tensor *residual) {
    return conv_op("op_conv2d_nhwc", 1, x, w, bias, stride, pad, groups, act, residual);
}

/* Which taps of a 3x3 kernel's row (or column) fall on low-resolution row a (0: the
 * upper, 1: the lower of the two it reads) for output phase p: upsampled rows 2i+p-1,
 * 2i+p, 2i+p+1 are low rows i-1, i, i (p = 0) or i, i, i+1 (p = 1). */
static int up2_tap(int p, int a, int t) {
    static const int first[2][2] = {{0, 1}, {0, 2}}, last[2][2] = {{0, 2}, {1, 2}};
    return t >= first[p][a] && t <= last[p][a];
}

int op_conv_up2_weights(const tensor *w, dtype dt, tensor *w4[4]) {
    for (int i = 0; i < 4; i++) w4[i] = NULL;
    if (!w || w->ndim != 4 || w->ne[2] != 3 || w->ne[3] != 3 || !ops_float_dt(w->dt))
        return OPS_BAD("op_conv_up2_weights", "needs w (K, C, 3, 3)"), -1;
    tensor *f = tensor_to_f32(w);
    int64_t KC = w->ne[0] * w->ne[1], ne[4] = {w->ne[0], w->ne[1], 2, 2};
    tensor *ph = f ? tensor_new(DT_F32, 4, ne) : NULL;
    for (int p = 0; ph && p < 4; p++) {
        float *o = ph->data;
        const float *src = f->data;
        for (int64_t kc = 0; kc < KC; kc++)
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 2; b++) {
                    float sum = 0.0f;
                    for (int ty = 0; ty < 3; ty++)
                        for (int tx = 0; tx < 3; tx++)
                            if (up2_tap(p / 2, a, ty) && up2_tap(p % 2, b, tx)) sum += src[kc * 9 + ty * 3 + tx];
                    o[kc * 4 + a * 2 + b] = sum;
                }
        w4[p] = tensor_weight_copy(ph, dt);
        if (!w4[p]) break;
    }
    tensor_free(ph);
    tensor_free(f);
    if (w4[3]) return 0;
    for (int i = 0; i < 4; i++) tensor_free(w4[i]), w4[i] = NULL;
    return OPS_BAD("op_conv_up2_weights", "out of memory"), -1;
}

/* y rows 2i+py, columns 2j+px from phase (py, px), for the rows of sample n at i. */
static void up2_interleave(tensor *const ph[4], tensor *y, int64_t N, int64_t H, int64_t W, int64_t K) {
    size_t row = (size_t)K * dtype_size(y->dt);
    #pragma omp parallel for
    for (int64_t ni = 0; ni < N * H; ni++)
        for (int p = 0; p < 4; p++)
            for (int64_t j = 0; j < W; j++) {
                int64_t n = ni / H, i = ni % H, oy = 2 * i + p / 2, ox = 2 * j + p % 2;
                memcpy((char *)y->data + ((n * 2 * H + oy) * 2 * W + ox) * row,
                       (const char *)ph[p]->data + (ni * W + j) * row, row);
            }
}

tensor *op_conv2d_up2_nhwc(const tensor *x, tensor *const w4[4], const tensor *bias) {
    conv_geom g = {.nhwc = 1};
    if (!x || !w4 || !w4[0] || !w4[1] || !w4[2] || !w4[3]) return NULL;
    /* Each phase is a stride-1 convolution at x's size; the pads pick its two rows and columns. */
    if (!conv_check("op_conv2d_up2_nhwc", &g, x, w4[0], bias, 1, 1, 1, NULL)) return NULL;
    if (w4[0]->ne[2] != 2 || w4[0]->ne[3] != 2) return OPS_BAD("op_conv2d_up2_nhwc", "needs 2x2 phase kernels");
    g.OH = g.H;
    g.OW = g.W;
    tensor *ph[4] = {NULL}, *y = NULL;
    int ok = 1;
    for (int p = 0; ok && p < 4; p++) {
        int py = p / 2, px = p % 2;
        ph[p] = conv_run(&g, x, w4[p], bias, 1, (int[]){1 - py, 1 - px, py, px}, 1, ACT_NONE, NULL);
        ok = ph[p] != NULL;
    }
    if (ok) y = ops_out(ph[0]->dt, 4, (int64_t[]){g.N, 2 * g.H, 2 * g.W, g.K});
    if (y && !ops_planning()) {
        up2_interleave(ph, y, g.N, g.H, g.W, g.K);
        /* Counted as the 3x3 convolution it replaces (per input pixel and channel pair,
         * 4 outputs x 9 taps against 4 phases x 4 taps), so that GFLOP/s figures compare
         * across opt levels, as ops_attention.c does for the fused attention. */
        flops_add(2.0 * (double)(g.N * g.H * g.W * g.K * g.C) * (36 - 16));
    }
    for (int p = 0; p < 4; p++) tensor_free(ph[p]);
    return y;
}
