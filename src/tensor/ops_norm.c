/* ops_norm.c -- layer norm and group norm on oneDNN's layer normalization.
 *
 * oneDNN 2.6 has no group normalization, but a group norm is a layer norm: view
 * x (N, C, rest) as (N*G, C/G * rest) and every row is one group. The per-channel
 * affine (gamma, beta) and the activation follow as one binary multiply whose
 * post-ops add beta and apply the activation (O1+; O0 runs the activation apart).
 * Scale and shift are f32 in oneDNN; other dtypes are cast into scratch first.
 */
#include "tensor/ops_internal.h"
#include "backend/backend.h"
#include "backend/engine.h"

typedef struct {
    dnnl_memory_desc_t data, chan;
    float eps;
    unsigned flags;
    act_kind act;
    int has_mul, has_add;
} norm_ctx;

static dnnl_primitive_desc_t make_lnorm(void *p) {
    norm_ctx *c = p;
    dnnl_layer_normalization_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_layer_normalization_forward_desc_init(&d, dnnl_forward_inference, &c->data, NULL,
                                                   c->eps, c->flags) != dnnl_success)
        return NULL;
    dnnl_primitive_desc_create(&pd, &d, NULL, backend_engine(), NULL);
    return pd;
}

/* An f32 copy of a per-channel parameter in scratch (or the data itself when f32). */
static void *norm_param_f32(scratch *s, const tensor *t) {
    if (!t || t->dt == DT_F32) return t ? t->data : NULL;
    int64_t n = tensor_numel(t);
    dnnl_memory_desc_t ms, md;
    dnn_md(&ms, t->dt, 1, &n);
    dnn_md(&md, DT_F32, 1, &n);
    void *p = scratch_alloc(s, (size_t)n * 4);
    return p && run_reorder(&ms, t->data, &md, p) == 0 ? p : NULL;
}

/* y = layernorm over rows of (rows, cols), optional f32 scale/shift of cols. */
static int run_lnorm(dtype dt, int64_t rows, int64_t cols, void *x, void *y, float eps,
                     void *gamma, void *beta) {
    norm_ctx c = {.eps = eps, .flags = (gamma ? dnnl_use_scale : 0u) | (beta ? dnnl_use_shift : 0u)};
    int64_t dims[2] = {rows, cols};
    dnn_md(&c.data, dt, 2, dims);
    dnn_md(&c.chan, DT_F32, 1, &cols);
    pkey k;
    pkey_init(&k, PK_LNORM);
    pkey_md(&k, &c.data);
    pkey_pushf(&k, eps);
    pkey_push(&k, c.flags);
    const pentry *e = pcache_get(&k, make_lnorm, &c);
    if (!e) return dnn_fail("layer normalization primitive", dnnl_unimplemented);
    dnn_arg a[6] = {{DNNL_ARG_SRC, &c.data, x}, {DNNL_ARG_DST, &c.data, y}};
    int n = 2;
    if (gamma) a[n++] = (dnn_arg){DNNL_ARG_SCALE, &c.chan, gamma};
    if (beta) a[n++] = (dnn_arg){DNNL_ARG_SHIFT, &c.chan, beta};
    /* Inference may still want mean/variance buffers; give them scratch. */
    scratch s;
    scratch_begin(&s);
    int stats[2] = {DNNL_ARG_MEAN, DNNL_ARG_VARIANCE}, rc = 0;
    for (int i = 0; i < 2; i++) {
        const dnnl_memory_desc_t *md =
            dnnl_primitive_desc_query_md(e->pd, dnnl_query_exec_arg_md, stats[i]);
        size_t sz = md ? dnnl_memory_desc_get_size(md) : 0;
        if (!sz) continue;
        void *p = scratch_alloc(&s, sz);
        if (!p) rc = -1;
        a[n++] = (dnn_arg){stats[i], md, p};
    }
    if (rc == 0) rc = dnn_exec(e, n, a);
    scratch_end(&s);
    return rc;
}

tensor *op_layer_norm(const tensor *x, const tensor *gamma, const tensor *beta, float eps) {
    if (!x) return NULL;
    if (x->ndim < 1 || !ops_float_dt(x->dt)) return OPS_BAD("op_layer_norm", "needs a float tensor");
    int64_t C = x->ne[x->ndim - 1], rows = C > 0 ? tensor_numel(x) / C : 0;
    if ((gamma && tensor_numel(gamma) != C) || (beta && tensor_numel(beta) != C))
        return OPS_BAD("op_layer_norm", "gamma/beta must have %lld values", (long long)C);
    tensor *y = ops_out(x->dt, x->ndim, x->ne);
    if (!y || rows * C == 0) return y;
    scratch s;
    scratch_begin(&s);
    void *g = norm_param_f32(&s, gamma), *b = norm_param_f32(&s, beta);
    int rc = (gamma && !g) || (beta && !b) ? -1 : run_lnorm(x->dt, rows, C, x->data, y->data, eps, g, b);
    scratch_end(&s);
    return rc ? NULL : y;
}

static dnnl_primitive_desc_t make_affine(void *p) {
    norm_ctx *c = p;
    dnnl_binary_desc_t d;
    dnnl_post_ops_t po;
    dnnl_primitive_attr_t attr;
    /* y * gamma [+ beta] [act]; with no gamma the binary is y + beta. */
    dnnl_alg_kind_t first = c->has_mul ? dnnl_binary_mul : dnnl_binary_add;
    if (dnnl_binary_desc_init(&d, first, &c->data, &c->chan, &c->data) != dnnl_success) return NULL;
    dnnl_primitive_attr_create(&attr);
    dnnl_post_ops_create(&po);
    if (c->has_mul && c->has_add) dnnl_post_ops_append_binary(po, dnnl_binary_add, &c->chan);
    if (c->act != ACT_NONE) {
        dnnl_alg_kind_t alg;
        float alpha;
        dnn_act(c->act, &alg, &alpha);
        dnnl_post_ops_append_eltwise(po, 1.0f, alg, alpha, 0.0f);
    }
    dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_post_ops_destroy(po);
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_desc_create(&pd, &d, attr, backend_engine(), NULL);
    dnnl_primitive_attr_destroy(attr);
    return pd;
}

/* In place on y viewed as (N, C, S): y = act(y * gamma[c] + beta[c]). */
static int run_affine(tensor *y, int64_t N, int64_t C, int64_t S, void *gamma, void *beta,
                      act_kind act) {
    norm_ctx c = {.act = act, .has_mul = gamma != NULL, .has_add = beta != NULL};
    int64_t dd[3] = {N, C, S}, cd[3] = {1, C, 1};
    /* With S == 1 and N > 1, oneDNN 2.6 broadcasts the (1, C, 1) post-op operand of a
     * (N, C, 1) binary wrongly (batch 1 reads other offsets); as (N, C) it is right. */
    int nd = S == 1 ? 2 : 3;
    dnn_md(&c.data, y->dt, nd, dd);
    dnn_md(&c.chan, DT_F32, nd, cd);
    pkey k;
    pkey_init(&k, PK_GNORM_AFFINE);
    pkey_md(&k, &c.data);
    pkey_push(&k, c.has_mul);
    pkey_push(&k, c.has_add);
    pkey_push(&k, act);
    const pentry *e = pcache_get(&k, make_affine, &c);
    if (!e) return dnn_fail("group norm affine primitive", dnnl_unimplemented);
    dnn_arg a[4] = {{DNNL_ARG_SRC_0, &c.data, y->data}, {DNNL_ARG_DST, &c.data, y->data},
                    {DNNL_ARG_SRC_1, &c.chan, gamma ? gamma : beta}};
    int n = 3;
    if (gamma && beta)
        a[n++] = (dnn_arg){DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, &c.chan, beta};
    return dnn_exec(e, n, a);
}

tensor *op_group_norm(const tensor *x, int groups, const tensor *gamma, const tensor *beta,
                      float eps, act_kind act) {
    if (!x) return NULL;
    if (x->ndim < 2 || !ops_float_dt(x->dt) || groups < 1 || x->ne[1] % groups)
        return OPS_BAD("op_group_norm", "needs float x (N, C, ...) with C divisible by %d", groups);
    int64_t N = x->ne[0], C = x->ne[1], S = N > 0 && C > 0 ? tensor_numel(x) / (N * C) : 0;
    if ((gamma && tensor_numel(gamma) != C) || (beta && tensor_numel(beta) != C))
        return OPS_BAD("op_group_norm", "gamma/beta must have %lld values", (long long)C);
    tensor *y = ops_out(x->dt, x->ndim, x->ne);
    if (!y || N * C * S == 0) return y;
    int fuse = backend_settings()->opt >= OPT_O1;
    scratch s;
    scratch_begin(&s);
    void *g = norm_param_f32(&s, gamma), *b = norm_param_f32(&s, beta);
    int rc = (gamma && !g) || (beta && !b) ? -1 : 0;
    if (rc == 0) rc = run_lnorm(x->dt, N * groups, C / groups * S, x->data, y->data, eps, NULL, NULL);
    act_kind fused = fuse ? act : ACT_NONE;
    if (rc == 0 && (g || b)) rc = run_affine(y, N, C, S, g, b, fused);
    else if (rc == 0) rc = run_act_inplace(y, fused);
    if (rc == 0 && !fuse) rc = run_act_inplace(y, act);
    scratch_end(&s);
    return rc ? NULL : y;
}
