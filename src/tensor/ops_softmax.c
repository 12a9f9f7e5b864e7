/* ops_softmax.c -- softmax over the last axis: oneDNN's softmax (accurate variant,
 * max-subtracted as torch computes it). */
#include "tensor/ops_internal.h"
#include "backend/engine.h"

typedef struct { dnnl_memory_desc_t md; } sm_ctx;

static dnnl_primitive_desc_t make_softmax(void *p) {
    sm_ctx *c = p;
    dnnl_softmax_v2_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_softmax_v2_forward_desc_init(&d, dnnl_forward_inference, dnnl_softmax_accurate,
                                          &c->md, &c->md, 1) != dnnl_success)
        return NULL;
    dnnl_primitive_desc_create(&pd, &d, NULL, backend_engine(), NULL);
    return pd;
}

int run_softmax(dtype dt, int64_t rows, int64_t cols, void *x, void *y) {
    sm_ctx c;
    int64_t dims[2] = {rows, cols};
    dnn_md(&c.md, dt, 2, dims);
    pkey k;
    pkey_init(&k, PK_SOFTMAX);
    pkey_md(&k, &c.md);
    const pentry *e = pcache_get(&k, make_softmax, &c);
    if (!e) return dnn_fail("softmax primitive", dnnl_unimplemented);
    dnn_arg a[] = {{DNNL_ARG_SRC, &c.md, x}, {DNNL_ARG_DST, &c.md, y}};
    return dnn_exec(e, 2, a);
}

tensor *op_softmax(const tensor *x) {
    if (!x) return NULL;
    if (x->ndim < 1 || !ops_float_dt(x->dt)) return OPS_BAD("op_softmax", "needs a float tensor");
    int64_t cols = x->ne[x->ndim - 1], rows = cols > 0 ? tensor_numel(x) / cols : 0;
    tensor *y = ops_out(x->dt, x->ndim, x->ne);
    if (!y || rows * cols == 0) return y;
    return run_softmax(x->dt, rows, cols, x->data, y->data) ? NULL : y;
}
