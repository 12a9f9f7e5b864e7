/* ops_matmul.c -- linear layers and batched matrix products: oneDNN's matmul.
 *
 * A torch Linear weight (out, in) is the matmul's (in, out) weights read through
 * transposed strides, so no copy is needed at O0/O1; from O2 the weights are reordered
 * once into the layout the primitive picks (format any) and kept. Bias, activation and
 * residual fuse as in ops_conv.c. Batched products broadcast batch dims of size 1.
 *
 * A gated linear (op_linear_gated, GEGLU's gate half) is the same matmul with its
 * multiplier as a binary mul post-op after the activation, from O1: the gate's
 * pre-activation output is never written. oneDNN has no sum-like form of a product,
 * so where the engine lacks that kernel (and at O0, and for int8) the product runs as
 * a separate in-place binary after the matmul.
 */
#include "tensor/ops_internal.h"
#include "backend/backend.h"
#include "backend/engine.h"
#include "tensor/flops.h"
#include "tensor/int8.h"
#include "tensor/prepare.h"

#include <string.h>

typedef struct {
    dnnl_memory_desc_t src, wei, bias, dst;
    int has_bias, any;
    act_kind act;
    int sum;
    float alpha;
    dtype cdt;   /* compute dtype of src, weights and dst */
    dnnl_memory_desc_t res;   /* O3: the residual (or O1: a gate), a binary post-op */
    int res_po;
    int res_mul;              /* that post-op multiplies (op_linear_gated) instead of adding */
    int int8;    /* s8 src and weights, f32 dst, bias as a post-op (int8.h) */
} mm_ctx;

static dnnl_primitive_desc_t make_matmul(void *p) {
    mm_ctx *c = p;
    dnnl_memory_desc_t src, wei, dst, bias;
    dnn_md_as(&src, &c->src, c->int8 ? DT_I8 : c->cdt, 0);
    dnn_md_as(&wei, &c->wei, c->int8 ? DT_I8 : c->cdt, c->any || c->int8);
    dnn_md_as(&dst, &c->dst, c->cdt, 0);
    dnn_md_as(&bias, &c->bias, DT_F32, 0);
    dnnl_matmul_desc_t d;
    if (dnnl_matmul_desc_init(&d, &src, &wei, c->has_bias && !c->int8 ? &bias : NULL, &dst) !=
        dnnl_success)
        return NULL;
    dnnl_primitive_attr_t attr = c->int8 ? int8_attr(&bias, c->has_bias, c->act, c->sum)
                                         : dnn_attr_binary(c->alpha, c->act, c->sum,
                                                           c->res_po ? &c->res : NULL,
                                                           c->res_mul ? dnnl_binary_mul
                                                                      : dnnl_binary_add);
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_desc_create(&pd, &d, attr, backend_engine(), NULL);
    dnnl_primitive_attr_destroy(attr);
    return pd;
}

static const pentry *mm_primitive(int op, mm_ctx *c) {
    pkey k;
    pkey_init(&k, op);
    pkey_md(&k, &c->src);
    pkey_md(&k, &c->wei);
    pkey_md(&k, &c->dst);
    pkey_push(&k, c->has_bias ? (int)c->bias.data_type : -1);
    pkey_push(&k, c->any);
    pkey_push(&k, c->act);
    pkey_push(&k, c->sum);
    pkey_pushf(&k, c->alpha);
    pkey_push(&k, c->cdt);
    pkey_push(&k, c->int8);
    pkey_push(&k, c->res_po);
    if (c->res_po) pkey_md(&k, &c->res);
    pkey_push(&k, c->res_mul);
    return pcache_get(&k, make_matmul, c);
}

/* act(x w^T + bias), then + other, or * other with `gate`; other like the output. */
static tensor *linear_run(const char *name, const tensor *x, const tensor *w, const tensor *bias,
                          act_kind act, const tensor *other, int gate) {
    if (!x || !w || (gate && !other)) return NULL;
    if (x->ndim < 1 || w->ndim != 2 || x->ne[x->ndim - 1] != w->ne[1])
        return OPS_BAD(name, "x (..., %lld) does not match w (out, in)",
                       (long long)(x->ndim ? x->ne[x->ndim - 1] : 0));
    if (!ops_float_dt(x->dt) || !ops_float_dt(w->dt))
        return OPS_BAD(name, "dtypes %s, %s", dtype_name(x->dt), dtype_name(w->dt));
    int64_t in = w->ne[1], out = w->ne[0], M = in ? tensor_numel(x) / in : 0;
    if (bias && tensor_numel(bias) != out) return OPS_BAD(name, "bias size");
    int64_t yne[T_MAX_DIMS];
    memcpy(yne, x->ne, sizeof yne);
    yne[x->ndim - 1] = out;
    if (other && (tensor_numel(other) != M * out || !ops_float_dt(other->dt)))
        return OPS_BAD(name, "%s shape differs from the output", gate ? "gate" : "residual");
    dtype cdt = backend_compute_dt();
    tensor *y = ops_out(cdt, x->ndim, yne);
    if (!y || M * out == 0) return y;

    opt_level opt = backend_settings()->opt;
    int fuse = opt >= OPT_O1;
    mm_ctx c = {.cdt = cdt, .int8 = backend_int8() && w->storage != T_ARENA,
                .has_bias = bias != NULL, .any = opt >= OPT_O2, .act = fuse ? act : ACT_NONE,
                .sum = fuse && other && !gate, .alpha = 1.0f};
    int64_t sd[2] = {M, in}, wd[2] = {in, out}, ws[2] = {1, in}, dd[2] = {M, out},
            bd[2] = {1, out};
    dnn_md(&c.src, x->dt, 2, sd);
    dnn_md_strided(&c.wei, w->dt, 2, wd, ws);
    dnn_md(&c.dst, y->dt, 2, dd);
    dnn_md(&c.bias, bias ? bias->dt : DT_F32, 2, bd);   /* also the int8 channel shape */
    const pentry *e = NULL;
    if (!c.int8 && (gate ? fuse : opt >= OPT_O3 && c.sum)) {
        /* O3: the residual as a binary post-op, no copy; O1: the gate's product. Where
         * the engine has no such kernel, the residual's O2 form or a separate product. */
        c.res_po = 1;
        c.res_mul = gate;
        c.sum = 0;
        dnn_md(&c.res, other->dt, 2, dd);
        if (!(e = mm_primitive(PK_MATMUL, &c))) c.res_po = c.res_mul = 0, c.sum = !gate;
    }
    if (!e) e = mm_primitive(PK_MATMUL, &c);
    if (!e) return dnn_fail("matmul primitive", dnnl_unimplemented), NULL;

    flops_add(2.0 * (double)M * (double)in * (double)out);
    if (c.sum && ops_copy(y, other)) return NULL;
    if (c.int8) {
        dnnl_memory_desc_t chan;
        dnn_md(&chan, DT_F32, 2, bd);
        int8_call ic = {e, x, &c.src, w, &c.wei, 1, bias, &chan, y, &c.dst, c.sum};
        if (int8_run(&ic)) return NULL;
    } else {
        dnn_arg a[5] = {{DNNL_ARG_SRC, &c.src, x->data}, {DNNL_ARG_DST, &c.dst, y->data}};
        int n = 2;
        a[n++] = prepare_weights_arg(w, e, &c.wei);
        if (bias) a[n++] = (dnn_arg){DNNL_ARG_BIAS, &c.bias, bias->data};
        if (c.res_po)
            a[n++] = (dnn_arg){DNNL_ARG_ATTR_MULTIPLE_POST_OP(dnn_attr_res_index(1.0f, c.act)) |
                                   DNNL_ARG_SRC_1, &c.res, other->data};
        if (dnn_exec_any(e, n, a, c.sum)) return NULL;
    }
    if (!fuse && run_act_inplace(y, act)) return NULL;
    if (other && !c.sum && !c.res_po &&
        run_binary_inplace(gate ? dnnl_binary_mul : dnnl_binary_add, y, other))
        return NULL;
    return y;
}

tensor *op_linear(const tensor *x, const tensor *w, const tensor *bias,
                  act_kind act, const tensor *residual) {
    return linear_run("op_linear", x, w, bias, act, residual, 0);
}

tensor *op_linear_gated(const tensor *x, const tensor *w, const tensor *bias, act_kind act,
                        const tensor *mul) {
    return linear_run("op_linear_gated", x, w, bias, act, mul, 1);
}

tensor *op_matmul(const tensor *a, const tensor *b, int trans_b, float alpha) {
    if (!a || !b) return NULL;
    if (a->ndim < 2 || a->ndim != b->ndim || !ops_float_dt(a->dt) || !ops_float_dt(b->dt))
        return OPS_BAD("op_matmul", "needs float a (..., M, K), b (..., K, N) of equal rank");
    int nd = a->ndim;
    int64_t M = a->ne[nd - 2], K = a->ne[nd - 1];
    int64_t bK = trans_b ? b->ne[nd - 1] : b->ne[nd - 2], N = trans_b ? b->ne[nd - 2] : b->ne[nd - 1];
    if (bK != K) return OPS_BAD("op_matmul", "inner dims %lld vs %lld", (long long)K, (long long)bK);
    int64_t yne[T_MAX_DIMS], bdims[T_MAX_DIMS], bst[T_MAX_DIMS];
    for (int i = 0; i < nd - 2; i++) {
        if (a->ne[i] != b->ne[i] && a->ne[i] != 1 && b->ne[i] != 1)
            return OPS_BAD("op_matmul", "batch dim %d: %lld vs %lld", i, (long long)a->ne[i],
                           (long long)b->ne[i]);
        yne[i] = a->ne[i] == 1 ? b->ne[i] : a->ne[i];
        bdims[i] = b->ne[i];
    }
    yne[nd - 2] = M;
    yne[nd - 1] = N;
    tensor *y = ops_out(backend_compute_dt(), nd, yne);
    if (!y || tensor_numel(y) == 0) return y;
    if (K == 0) {
        memset(y->data, 0, y->nbytes);
        return y;
    }
    /* b as (..., K, N): plain, or (..., N, K) storage read with swapped strides. */
    dnn_strides(nd, b->ne, bst);
    bdims[nd - 2] = K;
    bdims[nd - 1] = N;
    if (trans_b) {
        int64_t t = bst[nd - 2];
        bst[nd - 2] = bst[nd - 1];
        bst[nd - 1] = t;
    }
    dnnl_memory_desc_t ma, mb, my;
    dnn_md_of(&ma, a);
    dnn_md_strided(&mb, b->dt, nd, bdims, bst);
    dnn_md_of(&my, y);
    return run_matmul(&ma, a->data, &mb, b->data, &my, y->data, alpha) ? NULL : y;
}

int run_matmul(const dnnl_memory_desc_t *ma, void *pa, const dnnl_memory_desc_t *mb, void *pb,
               const dnnl_memory_desc_t *my, void *py, float alpha) {
    mm_ctx c = {.src = *ma, .wei = *mb, .dst = *my, .alpha = alpha, .cdt = backend_compute_dt()};
    const pentry *e = mm_primitive(PK_MATMUL, &c);
    if (!e) return dnn_fail("matmul primitive", dnnl_unimplemented);
    double outs = 1;
    for (int i = 0; i < my->ndims; i++) outs *= (double)my->dims[i];
    flops_add(2.0 * outs * (double)ma->dims[ma->ndims - 1]);
    dnn_arg args[] = {{DNNL_ARG_SRC, ma, pa}, {DNNL_ARG_WEIGHTS, mb, pb}, {DNNL_ARG_DST, my, py}};
    return dnn_exec_any(e, 3, args, 0);
}
