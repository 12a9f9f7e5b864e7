/* ops_eltwise.c -- activations, GEGLU and broadcasting add/mul/scale.
 *
 * All one oneDNN primitive each (eltwise or binary). GEGLU takes three, all on dense
 * memory: one reorder of x seen as (rows, 2, d) into (2, rows, d) scratch splits the
 * halves, gelu runs in place on the gate half, a binary multiply joins them into y.
 * (Primitives reading a strided half directly fall to oneDNN's slow generic kernels:
 * the reference binary, or the "simple" reorder, 10-20x slower.)
 */
#include "tensor/ops_internal.h"

tensor *op_act(const tensor *x, act_kind act) {
    if (!x) return NULL;
    if (!ops_float_dt(x->dt)) return OPS_BAD("op_act", "dtype %s", dtype_name(x->dt));
    tensor *y = ops_out(x->dt, x->ndim, x->ne);
    if (!y) return NULL;
    dnnl_memory_desc_t md;
    dnnl_alg_kind_t alg;
    float alpha;
    dnn_md_of(&md, x);
    dnn_act(act, &alg, &alpha);
    return run_eltwise(&md, x->data, y->data, alg, alpha, 0.0f) ? NULL : y;
}

tensor *op_scale(const tensor *a, float alpha, float beta) {
    if (!a) return NULL;
    if (!ops_float_dt(a->dt)) return OPS_BAD("op_scale", "dtype %s", dtype_name(a->dt));
    tensor *y = ops_out(a->dt, a->ndim, a->ne);
    if (!y) return NULL;
    dnnl_memory_desc_t md;
    dnn_md_of(&md, a);
    return run_eltwise(&md, a->data, y->data, dnnl_eltwise_linear, alpha, beta) ? NULL : y;
}

tensor *op_geglu(const tensor *x) {
    if (!x) return NULL;
    if (!ops_float_dt(x->dt) || x->ndim < 1 || x->ne[x->ndim - 1] % 2)
        return OPS_BAD("op_geglu", "needs a float tensor with an even last dim");
    int64_t d = x->ne[x->ndim - 1] / 2, rows = d > 0 ? tensor_numel(x) / (2 * d) : 0;
    int64_t ne[T_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) ne[i] = x->ne[i];
    ne[x->ndim - 1] = d;
    tensor *y = ops_out(x->dt, x->ndim, ne);
    if (!y || rows * d == 0) return y;
    int64_t dims[3] = {rows, 2, d}, split[3] = {d, rows * d, 1}, hd[2] = {rows, d};
    dnnl_memory_desc_t rows2, halves, plain;
    dnn_md(&rows2, x->dt, 3, dims);
    dnn_md_strided(&halves, x->dt, 3, dims, split);
    dnn_md(&plain, x->dt, 2, hd);
    scratch s;
    scratch_begin(&s);
    char *value = scratch_alloc(&s, x->nbytes), *gate = value + y->nbytes;
    int rc = !value || run_reorder(&rows2, x->data, &halves, value) ||
             run_eltwise(&plain, gate, gate, dnnl_eltwise_gelu_erf, 0.0f, 0.0f) ||
             run_binary(dnnl_binary_mul, &plain, value, &plain, gate, &plain, y->data);
    scratch_end(&s);
    return rc ? NULL : y;
}

/* b's shape right-aligned to a's; NULL result when not broadcastable. */
static tensor *op_binary(const char *name, dnnl_alg_kind_t alg, const tensor *a, const tensor *b) {
    if (!a || !b) return NULL;
    if (!ops_float_dt(a->dt) || !ops_float_dt(b->dt))
        return OPS_BAD(name, "dtypes %s, %s", dtype_name(a->dt), dtype_name(b->dt));
    if (b->ndim > a->ndim) return OPS_BAD(name, "b has more dims than a");
    int nd = a->ndim ? a->ndim : 1, off = nd - (b->ndim ? b->ndim : 1);
    int64_t bdims[T_MAX_DIMS];
    for (int i = 0; i < nd; i++) {
        int64_t ad = a->ndim ? a->ne[i] : 1;
        bdims[i] = i < off ? 1 : (b->ndim ? b->ne[i - off] : 1);
        if (bdims[i] != ad && bdims[i] != 1)
            return OPS_BAD(name, "dim %d: %lld does not broadcast to %lld", i,
                           (long long)bdims[i], (long long)ad);
    }
    tensor *y = ops_out(a->dt, a->ndim, a->ne);
    if (!y || tensor_numel(a) == 0) return y;
    dnnl_memory_desc_t ma, mb, mbs;
    dnn_md_of(&ma, a);
    dnn_md(&mbs, b->dt, nd, bdims);
    dnn_md(&mb, a->dt, nd, bdims);
    /* b in a's dtype (an f16 bias on f32 activations): oneDNN mixes few dtypes. */
    scratch s;
    scratch_begin(&s);
    void *bp = b->dt == a->dt ? b->data : scratch_alloc(&s, dnnl_memory_desc_get_size(&mb));
    int rc = bp ? 0 : -1;
    if (rc == 0 && bp != b->data) rc = run_reorder(&mbs, b->data, &mb, bp);
    if (rc == 0) rc = run_binary(alg, &ma, a->data, &mb, bp, &ma, y->data);
    scratch_end(&s);
    return rc ? NULL : y;
}

tensor *op_add(const tensor *a, const tensor *b) { return op_binary("op_add", dnnl_binary_add, a, b); }
tensor *op_mul(const tensor *a, const tensor *b) { return op_binary("op_mul", dnnl_binary_mul, a, b); }
