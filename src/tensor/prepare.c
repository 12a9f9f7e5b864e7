/* prepare.c -- see prepare.h.
 *
 * A prepared copy is made from the plain data, or, once that was dropped, from the
 * previous prepared copy unpacked to plain in a temporary buffer (a primitive of another
 * layout, or int8, whose row scales are taken over plain rows; int8 keeps that buffer
 * as the plain data again). Preparing always runs its reorders, also in plan mode: the
 * copy is the point of planning.
 */
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

/* w (plain data) into a new prepared copy laid out as want. */
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

/* Drops w's plain storage when its prepared copy p holds the same values, so the weight
 * is held once: only model weights (storage apart), never an int8 copy (lossy). */
static void prepare_drop_plain(tensor *w, const prepared *p) {
    if (w->storage != T_OWNED_APART || p->scales || p->md.data_type != dnn_dt(w->dt)) return;
    free(w->data);
    w->data = NULL;
}

/* A new prepared copy of w for want, from its plain data or its previous copy. An int8
 * copy cannot stand in for the plain data: then the unpacked plain data comes back. */
static prepared *prepare_remake(tensor *w, const dnnl_memory_desc_t *plain,
                                const dnnl_memory_desc_t *want, int oc_dim) {
    const prepared *old = w->prepared;
    if (w->data || !old) return prepare_make(w, plain, want, oc_dim);
    tensor unpacked = *w;
    size_t bytes = dnnl_memory_desc_get_size(plain);
    unpacked.data = aligned_alloc(64, ((bytes | 1) + 63) & ~(size_t)63);
    prepared *p = NULL;
    if (unpacked.data && run_reorder(&old->md, old->data, plain, unpacked.data) == 0)
        p = prepare_make(&unpacked, plain, want, oc_dim);
    if (p && oc_dim >= 0) w->data = unpacked.data;
    else free(unpacked.data);
    return p;
}

/* The prepared copy of w for `want` (made or remade as needed), or NULL. */
static prepared *prepare_get(const tensor *w, const dnnl_memory_desc_t *plain,
                             const dnnl_memory_desc_t *want, int oc_dim) {
    /* prepared is a cache on a const weight: the one field ops may write. */
    tensor *mw = (tensor *)w;
    prepared *p = mw->prepared;
    if (p && dnnl_memory_desc_equal(&p->md, want) && (oc_dim >= 0) == (p->scales != NULL))
        return p;
    int planning = ops_plan_set(0);
    p = prepare_remake(mw, plain, want, oc_dim);
    ops_plan_set(planning);
    if (!p) {
        log_warn("prepare: could not make a prepared weight");
        return NULL;
    }
    tensor_unprepare(mw);
    mw->prepared = p;
    prepare_drop_plain(mw, p);
    return p;
}

size_t tensor_held_bytes(const tensor *t) {
    const prepared *p = t->prepared;
    int owns = t->storage == T_OWNED || (t->storage == T_OWNED_APART && t->data);
    return (owns ? t->nbytes : 0) + (p ? p->bytes : 0);
}

static const dnnl_memory_desc_t *prepare_want(const pentry *e) {
    return dnnl_primitive_desc_query_md(e->pd, dnnl_query_exec_arg_md, DNNL_ARG_WEIGHTS);
}

dnn_arg prepare_weights_arg(const tensor *w, const pentry *e, const dnnl_memory_desc_t *plain) {
    dnn_arg a = {DNNL_ARG_WEIGHTS, plain, w->data};
    const dnnl_memory_desc_t *want = prepare_want(e);
    prepared *p = w->prepared;
    if (!want || dnnl_memory_desc_equal(want, plain) || w->storage == T_ARENA) {
        /* Plain wanted but dropped: the prepared copy, reordered per call. */
        if (!w->data && p) a = (dnn_arg){DNNL_ARG_WEIGHTS, &p->md, p->data};
        return a;
    }
    p = prepare_get(w, plain, want, -1);
    if (!p && !w->data) p = w->prepared;   /* no new copy: the dropped plain's stand-in */
    if (p) {   /* else (or for that stand-in) dnn_exec_any reorders per call */
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
