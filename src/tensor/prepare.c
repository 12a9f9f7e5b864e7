/* prepare.c -- see prepare.h. */
#include "tensor/prepare.h"
#include "tensor/ops_internal.h"
#include "backend/alloc.h"
#include "backend/engine.h"
#include "base/log.h"

#include <math.h>
#include <stdlib.h>

typedef struct prepared {
    dnnl_memory_desc_t md;   /* layout and dtype of data */
    void *data;
    size_t bytes;
    float *scales;           /* int8: per-output-channel scales, else NULL */
} prepared;

void tensor_unprepare(tensor *t) {
    prepared *p = t->prepared;
    if (!p) return;
    alloc_unuse(p->bytes);
    alloc_release(p->bytes);
    free(p->data);
    free(p->scales);
    free(p);
    t->prepared = NULL;
}

/* Reorder with per-channel output scales along oc_dim (the int8 quantization). */
static int prepare_quantize(const dnnl_memory_desc_t *plain, const void *src,
                            const dnnl_memory_desc_t *want, void *dst, int oc_dim,
                            const float *inv) {
    dnnl_primitive_attr_t attr;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_create(&attr);
    dnnl_primitive_attr_set_output_scales(attr, plain->dims[oc_dim], 1 << oc_dim, inv);
    dnnl_reorder_primitive_desc_create(&pd, plain, backend_engine(), want, backend_engine(), attr);
    dnnl_primitive_attr_destroy(attr);
    if (!pd) return dnn_fail("int8 weight quantization", dnnl_unimplemented);
    pentry e = {pd, NULL};
    int rc = dnnl_primitive_create(&e.prim, pd) == dnnl_success ? 0 : -1;
    dnn_arg a[] = {{DNNL_ARG_FROM, plain, (void *)src}, {DNNL_ARG_TO, want, dst}};
    if (rc == 0) rc = dnn_exec(&e, 2, a);
    if (e.prim) dnnl_primitive_destroy(e.prim);
    dnnl_primitive_desc_destroy(pd);
    return rc;
}

/* Per-row symmetric scales of w's storage (K rows): max |row| / 127. */
static float *prepare_row_scales(const tensor *w, int64_t K) {
    float *s = malloc((size_t)K * sizeof *s);
    int64_t per = K ? tensor_numel(w) / K : 0;
    for (int64_t k = 0; s && k < K; k++) {
        float m = 0.0f;
        for (int64_t i = 0; i < per; i++) m = fmaxf(m, fabsf(tensor_get_f32(w, k * per + i)));
        s[k] = m > 0 ? m / 127.0f : 1.0f;
    }
    return s;
}

static prepared *prepare_make(const tensor *w, const dnnl_memory_desc_t *plain,
                              const dnnl_memory_desc_t *want, int oc_dim) {
    prepared *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->md = *want;
    p->bytes = dnnl_memory_desc_get_size(want);
    p->data = aligned_alloc(64, (p->bytes + 63) & ~(size_t)63);
    int rc = p->data ? 0 : -1;
    if (rc == 0 && oc_dim < 0) {
        rc = run_reorder(plain, w->data, &p->md, p->data);
    } else if (rc == 0) {
        int64_t K = plain->dims[oc_dim];
        p->scales = prepare_row_scales(w, K);
        float *inv = malloc((size_t)K * sizeof *inv);
        for (int64_t k = 0; inv && p->scales && k < K; k++) inv[k] = 1.0f / p->scales[k];
        rc = inv && p->scales ? prepare_quantize(plain, w->data, &p->md, p->data, oc_dim, inv) : -1;
        free(inv);
    }
    if (rc) {
        free(p->data);
        free(p->scales);
        free(p);
        return NULL;
    }
    alloc_reserve(p->bytes);
    alloc_use(p->bytes);
    return p;
}

/* The prepared copy of w for `want` (made or remade as needed), or NULL. */
static prepared *prepare_get(const tensor *w, const dnnl_memory_desc_t *plain,
                             const dnnl_memory_desc_t *want, int oc_dim) {
    /* prepared is a cache on a const weight: the one field ops may write. */
    tensor *mw = (tensor *)w;
    prepared *p = mw->prepared;
    if (p && (!dnnl_memory_desc_equal(&p->md, want) || (oc_dim >= 0) != (p->scales != NULL))) {
        tensor_unprepare(mw);
        p = NULL;
    }
    if (!p) {
        p = prepare_make(w, plain, want, oc_dim);
        if (!p) {
            log_warn("prepare: could not make a prepared weight");
            return NULL;
        }
        mw->prepared = p;
    }
    return p;
}

static const dnnl_memory_desc_t *prepare_want(const pentry *e) {
    return dnnl_primitive_desc_query_md(e->pd, dnnl_query_exec_arg_md, DNNL_ARG_WEIGHTS);
}

dnn_arg prepare_weights_arg(const tensor *w, const pentry *e, const dnnl_memory_desc_t *plain) {
    dnn_arg a = {DNNL_ARG_WEIGHTS, plain, w->data};
    const dnnl_memory_desc_t *want = prepare_want(e);
    if (!want || dnnl_memory_desc_equal(want, plain) || w->storage == T_ARENA) return a;
    prepared *p = prepare_get(w, plain, want, -1);
    if (p) {   /* else dnn_exec_any reorders per call */
        a.md = &p->md;
        a.ptr = p->data;
    }
    return a;
}

dnn_arg prepare_weights_int8(const tensor *w, const pentry *e, const dnnl_memory_desc_t *plain,
                             int oc_dim, const float **scales) {
    dnn_arg a = {DNNL_ARG_WEIGHTS, plain, w->data};
    prepared *p = prepare_get(w, plain, prepare_want(e), oc_dim);
    *scales = p ? p->scales : NULL;
    if (p) {
        a.md = &p->md;
        a.ptr = p->data;
    }
    return a;
}
