/* int8.c -- see int8.h. */
#include "tensor/int8.h"
#include "tensor/ops_internal.h"
#include "tensor/prepare.h"
#include "backend/engine.h"

#include <math.h>
#include <string.h>

dnnl_primitive_attr_t int8_attr(const dnnl_memory_desc_t *chan_md, int has_bias, act_kind act,
                                int sum) {
    dnnl_primitive_attr_t attr = dnn_attr(1.0f, ACT_NONE, 0, NULL);
    if (!attr) return NULL;
    dnnl_post_ops_t po;
    dnnl_post_ops_create(&po);
    dnnl_post_ops_append_binary(po, dnnl_binary_mul, chan_md);
    if (has_bias) dnnl_post_ops_append_binary(po, dnnl_binary_add, chan_md);
    if (act != ACT_NONE) {
        dnnl_alg_kind_t alg;
        float alpha;
        dnn_act(act, &alg, &alpha);
        dnnl_post_ops_append_eltwise(po, 1.0f, alg, alpha, 0.0f);
    }
    if (sum) dnnl_post_ops_append_sum(po, 1.0f);
    dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_post_ops_destroy(po);
    return attr;
}

/* Largest |x|: the one reduction oneDNN 2.6 cannot express (it has max and min but
 * no abs-max), a plain loop on the host. */
static float int8_absmax(const tensor *x) {
    int64_t n = tensor_numel(x);
    float m = 0.0f;
    #pragma omp parallel for reduction(max : m) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float v = fabsf(tensor_get_f32(x, i));
        if (v > m) m = v;
    }
    return m;
}

typedef struct { dnnl_memory_desc_t src, dst; } q_ctx;

static dnnl_primitive_desc_t make_quant(void *p) {
    q_ctx *c = p;
    dnnl_primitive_attr_t attr;
    dnnl_primitive_desc_t pd = NULL;
    float rt = DNNL_RUNTIME_F32_VAL;
    dnnl_primitive_attr_create(&attr);
    dnnl_primitive_attr_set_output_scales(attr, 1, 0, &rt);
    dnnl_reorder_primitive_desc_create(&pd, &c->src, backend_engine(), &c->dst, backend_engine(), attr);
    dnnl_primitive_attr_destroy(attr);
    return pd;
}

/* q = round(x * scale) saturated to s8, x plain (same dims as q). */
static int int8_quantize(const dnnl_memory_desc_t *xmd, const void *x, void *q, float scale) {
    q_ctx c = {.src = *xmd};
    dnn_md_as(&c.dst, xmd, DT_I8, 0);
    pkey k;
    pkey_init(&k, PK_QUANT);
    pkey_md(&k, &c.src);
    const pentry *e = pcache_get(&k, make_quant, &c);
    if (!e) return dnn_fail("int8 quantize reorder", dnnl_unimplemented);
    int64_t one = 1;
    dnnl_memory_desc_t smd;
    dnn_md(&smd, DT_F32, 1, &one);
    dnn_arg a[] = {{DNNL_ARG_FROM, &c.src, (void *)x}, {DNNL_ARG_TO, &c.dst, q},
                   {DNNL_ARG_ATTR_OUTPUT_SCALES, &smd, &scale}};
    return dnn_exec(e, 3, a);
}

int int8_run(const int8_call *c) {
    int64_t K = c->wmd->dims[c->oc_dim];
    scratch s;
    scratch_begin(&s);
    int8_t *xq = scratch_alloc(&s, (size_t)tensor_numel(c->x));
    float *scales = scratch_alloc(&s, (size_t)K * 4), *bias32 = NULL;
    const float *wscale = NULL;
    int rc = xq && scales ? 0 : -1;
    float amax = rc == 0 ? int8_absmax(c->x) : 0.0f, xs = amax > 0 ? amax / 127.0f : 1.0f;
    dnnl_memory_desc_t xin, xq_md;
    dnn_md_as(&xin, c->xmd, c->x->dt, 0);
    dnn_md_as(&xq_md, c->xmd, DT_I8, 0);
    if (rc == 0) rc = int8_quantize(&xin, c->x->data, xq, 1.0f / xs);
    dnn_arg wa = prepare_weights_int8(c->w, c->e, c->wmd, c->oc_dim, &wscale);
    if (rc == 0 && !wscale) rc = -1;
    for (int64_t i = 0; rc == 0 && i < K; i++) scales[i] = xs * wscale[i];
    if (rc == 0 && c->bias && c->bias->dt != DT_F32) {
        tensor *b = tensor_to_f32(c->bias);   /* K floats; rare (f16 checkpoints) */
        bias32 = b ? scratch_alloc(&s, (size_t)K * 4) : NULL;
        if (bias32) memcpy(bias32, b->data, (size_t)K * 4);
        else rc = -1;
        tensor_free(b);
    }
    dnn_arg a[5] = {{DNNL_ARG_SRC, &xq_md, xq}, wa, {DNNL_ARG_DST, c->ymd, c->y->data},
                    {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, c->chan_md, scales}};
    int n = 4;
    if (c->bias)
        a[n++] = (dnn_arg){DNNL_ARG_ATTR_MULTIPLE_POST_OP(1) | DNNL_ARG_SRC_1, c->chan_md,
                           bias32 ? bias32 : c->bias->data};
    if (rc == 0) rc = dnn_exec_any(c->e, n, a, c->sum);
    scratch_end(&s);
    return rc;
}
