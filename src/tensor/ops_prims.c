/* ops_prims.c -- eltwise, binary and reorder: the building blocks other ops reuse.
 *
 * Each takes memory descriptors rather than tensors so callers can pass strided views
 * (the halves of a GEGLU input, a slice, a permutation) without copying first.
 */
#include "tensor/ops_internal.h"
#include "backend/engine.h"

typedef struct {
    const dnnl_memory_desc_t *md0, *md1, *mdd;
    dnnl_alg_kind_t alg;
    float alpha, beta;
} prim_ctx;

static dnnl_primitive_desc_t make_eltwise(void *p) {
    prim_ctx *c = p;
    dnnl_eltwise_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_eltwise_forward_desc_init(&d, dnnl_forward_inference, c->alg, c->md0, c->alpha,
                                       c->beta) != dnnl_success)
        return NULL;
    dnnl_primitive_desc_create(&pd, &d, NULL, backend_engine(), NULL);
    return pd;
}

int run_eltwise(const dnnl_memory_desc_t *md, void *src, void *dst, dnnl_alg_kind_t alg,
                float alpha, float beta) {
    prim_ctx c = {.md0 = md, .alg = alg, .alpha = alpha, .beta = beta};
    pkey k;
    pkey_init(&k, PK_ELTWISE);
    pkey_md(&k, md);
    pkey_push(&k, alg);
    pkey_pushf(&k, alpha);
    pkey_pushf(&k, beta);
    const pentry *e = pcache_get(&k, make_eltwise, &c);
    if (!e) return dnn_fail("eltwise primitive", dnnl_unimplemented);
    dnn_arg a[] = {{DNNL_ARG_SRC, md, src}, {DNNL_ARG_DST, md, dst}};
    return dnn_exec(e, 2, a);
}

static dnnl_primitive_desc_t make_binary(void *p) {
    prim_ctx *c = p;
    dnnl_binary_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_binary_desc_init(&d, c->alg, c->md0, c->md1, c->mdd) != dnnl_success) return NULL;
    dnnl_primitive_desc_create(&pd, &d, NULL, backend_engine(), NULL);
    return pd;
}

int run_binary(dnnl_alg_kind_t alg, const dnnl_memory_desc_t *md0, void *p0,
               const dnnl_memory_desc_t *md1, void *p1, const dnnl_memory_desc_t *mdd, void *pd) {
    prim_ctx c = {.md0 = md0, .md1 = md1, .mdd = mdd, .alg = alg};
    pkey k;
    pkey_init(&k, PK_BINARY);
    pkey_push(&k, alg);
    pkey_md(&k, md0);
    pkey_md(&k, md1);
    pkey_md(&k, mdd);
    const pentry *e = pcache_get(&k, make_binary, &c);
    if (!e) return dnn_fail("binary primitive", dnnl_unimplemented);
    dnn_arg a[] = {{DNNL_ARG_SRC_0, md0, p0}, {DNNL_ARG_SRC_1, md1, p1}, {DNNL_ARG_DST, mdd, pd}};
    return dnn_exec(e, 3, a);
}

static dnnl_primitive_desc_t make_reorder(void *p) {
    prim_ctx *c = p;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_reorder_primitive_desc_create(&pd, c->md0, backend_engine(), c->mdd, backend_engine(),
                                       NULL);
    return pd;
}

int run_reorder(const dnnl_memory_desc_t *mds, void *ps, const dnnl_memory_desc_t *mdd, void *pd) {
    prim_ctx c = {.md0 = mds, .mdd = mdd};
    pkey k;
    pkey_init(&k, PK_REORDER);
    pkey_md(&k, mds);
    pkey_md(&k, mdd);
    const pentry *e = pcache_get(&k, make_reorder, &c);
    if (!e) return dnn_fail("reorder primitive", dnnl_unimplemented);
    dnn_arg a[] = {{DNNL_ARG_FROM, mds, ps}, {DNNL_ARG_TO, mdd, pd}};
    return dnn_exec(e, 2, a);
}

int run_act_inplace(tensor *t, act_kind act) {
    if (act == ACT_NONE) return 0;
    dnnl_memory_desc_t md;
    dnnl_alg_kind_t alg;
    float alpha;
    dnn_md_of(&md, t);
    dnn_act(act, &alg, &alpha);
    return run_eltwise(&md, t->data, t->data, alg, alpha, 0.0f);
}

int run_binary_inplace(dnnl_alg_kind_t alg, tensor *t, const tensor *r) {
    dnnl_memory_desc_t md, mr;
    dnn_md_of(&md, t);
    dnn_md(&mr, r->dt, t->ndim, t->ne);   /* r's elements in t's shape */
    return run_binary(alg, &md, t->data, &mr, r->data, &md, t->data);
}
