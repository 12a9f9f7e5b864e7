/* ops_conv.c -- 2-d convolution: one oneDNN convolution primitive.
 *
 * Bias, activation and residual are fused at O1 and up (bias in the primitive, act as
 * an eltwise post-op, residual as a sum post-op over a destination pre-filled with
 * it). O0 runs the same convolution without post-ops, then eltwise and binary
 * primitives: the unfused reference. From O2 the primitive picks its own layouts
 * (format any); weights are reordered once into that layout and kept on the tensor
 * (tensor.prepared), activations are reordered in and out around the call. Under
 * precision int8 an ungrouped convolution of a persistent weight runs in s8 (int8.h).
 */
#include "tensor/ops_internal.h"
#include "backend/backend.h"
#include "backend/engine.h"
#include "tensor/int8.h"
#include "tensor/flops.h"
#include "tensor/prepare.h"

typedef struct {
    dnnl_memory_desc_t src, wei, bias, dst;
    int stride, pad, has_bias, any;
    dtype cdt;   /* compute dtype: src, weights and dst of the primitive */
    int int8;    /* s8 src and weights, f32 dst, bias as a post-op (int8.h) */
    dnnl_memory_desc_t chan;      /* (1, K, 1, 1) f32: int8 scale and bias post-op operand */
    act_kind act;
    int sum;
} conv_ctx;

static dnnl_primitive_desc_t make_conv(void *p) {
    conv_ctx *c = p;
    dnnl_memory_desc_t src, wei, dst, bias;
    /* int8 convolutions exist only in blocked/NHWC layouts: always `any` for them. */
    int any = c->any || c->int8;
    dnn_md_as(&src, &c->src, c->int8 ? DT_I8 : c->cdt, any);
    dnn_md_as(&wei, &c->wei, c->int8 ? DT_I8 : c->cdt, any);
    dnn_md_as(&dst, &c->dst, c->cdt, any);
    dnn_md_as(&bias, &c->bias, DT_F32, 0);
    dnnl_dims_t strides = {c->stride, c->stride}, pad = {c->pad, c->pad};
    dnnl_convolution_desc_t d;
    if (dnnl_convolution_forward_desc_init(&d, dnnl_forward_inference, dnnl_convolution_direct,
                                           &src, &wei, c->has_bias && !c->int8 ? &bias : NULL, &dst,
                                           strides, pad, pad) != dnnl_success)
        return NULL;
    dnnl_primitive_attr_t attr = c->int8 ? int8_attr(&c->chan, c->has_bias, c->act, c->sum)
                                         : dnn_attr(1.0f, c->act, c->sum, NULL);
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_desc_create(&pd, &d, attr, backend_engine(), NULL);
    dnnl_primitive_attr_destroy(attr);
    return pd;
}

static tensor *conv_check(const tensor *x, const tensor *w, const tensor *bias, int stride,
                          int pad, int groups, const tensor *residual, int64_t *oh, int64_t *ow) {
    if (x->ndim != 4 || w->ndim != 4 || stride < 1 || pad < 0 || groups < 1)
        return OPS_BAD("op_conv2d", "needs x (N,C,H,W), w (K,C/g,R,S), stride >= 1, pad >= 0");
    if (!ops_float_dt(x->dt) || !ops_float_dt(w->dt))
        return OPS_BAD("op_conv2d", "dtypes %s, %s", dtype_name(x->dt), dtype_name(w->dt));
    if (x->ne[1] != w->ne[1] * groups || w->ne[0] % groups)
        return OPS_BAD("op_conv2d", "x has %lld channels, w expects %lld x %d groups",
                       (long long)x->ne[1], (long long)w->ne[1], groups);
    if (bias && tensor_numel(bias) != w->ne[0])
        return OPS_BAD("op_conv2d", "bias has %lld values for %lld outputs",
                       (long long)tensor_numel(bias), (long long)w->ne[0]);
    *oh = (x->ne[2] + 2 * pad - w->ne[2]) / stride + 1;
    *ow = (x->ne[3] + 2 * pad - w->ne[3]) / stride + 1;
    if (x->ne[2] + 2 * pad < w->ne[2] || x->ne[3] + 2 * pad < w->ne[3])
        return OPS_BAD("op_conv2d", "kernel larger than the padded input");
    if (residual && (residual->ndim != 4 || residual->ne[0] != x->ne[0] ||
                     residual->ne[1] != w->ne[0] || residual->ne[2] != *oh ||
                     residual->ne[3] != *ow || !ops_float_dt(residual->dt)))
        return OPS_BAD("op_conv2d", "residual shape differs from the output");
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

tensor *op_conv2d(const tensor *x, const tensor *w, const tensor *bias,
                  int stride, int pad, int groups, act_kind act, const tensor *residual) {
    int64_t oh, ow;
    if (!x || !w || !conv_check(x, w, bias, stride, pad, groups, residual, &oh, &ow)) return NULL;
    opt_level opt = backend_settings()->opt;
    int fuse = opt >= OPT_O1;
    int64_t K = w->ne[0], one_ne[1] = {K};
    int64_t yne[4] = {x->ne[0], K, oh, ow};
    dtype cdt = backend_compute_dt();
    tensor *y = ops_out(cdt, 4, yne);
    if (!y || tensor_numel(y) == 0) return y;

    conv_ctx c = {.cdt = cdt, .int8 = backend_int8() && groups == 1 && w->storage != T_ARENA,
                  .stride = stride, .pad = pad, .has_bias = bias != NULL, .any = opt >= OPT_O2,
                  .act = fuse ? act : ACT_NONE, .sum = fuse && residual};
    dnn_md_of(&c.src, x);
    dnn_md_of(&c.dst, y);
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
    pkey_push(&k, pad);
    pkey_push(&k, groups);
    pkey_push(&k, c.act);
    pkey_push(&k, c.sum);
    pkey_push(&k, c.any);
    pkey_push(&k, cdt);
    pkey_push(&k, c.int8);
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
    if (!fuse && (run_act_inplace(y, act) || (residual && run_add_inplace(y, residual))))
        return NULL;
    return y;
}
