/* ops_eltwise.c -- activations, GEGLU and broadcasting add/mul/scale.
 *
 * All one oneDNN primitive each (eltwise or binary), GEGLU three: a reorder pulls the
 * gate half out of the interleaved rows, gelu runs in place on it, and a binary
 * multiply reads the value half through a strided descriptor.
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
    int64_t dims[2] = {rows, d}, strides[2] = {2 * d, 1};
    dnnl_memory_desc_t half, plain;
    dnn_md_strided(&half, x->dt, 2, dims, strides);
    dnn_md(&plain, x->dt, 2, dims);
    char *value = x->data, *gate = value + d * (int64_t)dtype_size(x->dt);
    if (run_reorder(&half, gate, &plain, y->data) ||
        run_eltwise(&plain, y->data, y->data, dnnl_eltwise_gelu_erf, 0.0f, 0.0f) ||
        run_binary(dnnl_binary_mul, &plain, y->data, &half, value, &plain, y->data))
        return NULL;
    return y;
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
    dnnl_memory_desc_t ma, mb;
    dnn_md_of(&ma, a);
    dnn_md(&mb, b->dt, nd, bdims);
    return run_binary(alg, &ma, a->data, &mb, b->data, &ma, y->data) ? NULL : y;
}

tensor *op_add(const tensor *a, const tensor *b) { return op_binary("op_add", dnnl_binary_add, a, b); }
tensor *op_mul(const tensor *a, const tensor *b) { return op_binary("op_mul", dnnl_binary_mul, a, b); }
