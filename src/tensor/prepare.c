/* prepare.c -- see prepare.h. */
#include "tensor/prepare.h"
#include "tensor/ops_internal.h"
#include "backend/alloc.h"
#include "base/log.h"

#include <stdatomic.h>
#include <stdlib.h>

typedef struct prepared {
    dnnl_memory_desc_t md;   /* layout and dtype of data */
    void *data;
    size_t bytes;
} prepared;

static _Atomic size_t prep_total;

size_t prepare_bytes(void) { return atomic_load(&prep_total); }

void tensor_unprepare(tensor *t) {
    prepared *p = t->prepared;
    if (!p) return;
    alloc_unuse(p->bytes);
    alloc_release(p->bytes);
    atomic_fetch_sub(&prep_total, p->bytes);
    free(p->data);
    free(p);
    t->prepared = NULL;
}

static prepared *prepare_make(const tensor *w, const dnnl_memory_desc_t *plain,
                              const dnnl_memory_desc_t *want) {
    prepared *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->md = *want;
    p->bytes = dnnl_memory_desc_get_size(want);
    p->data = aligned_alloc(64, (p->bytes + 63) & ~(size_t)63);
    if (!p->data || run_reorder(plain, w->data, &p->md, p->data)) {
        free(p->data);
        free(p);
        return NULL;
    }
    alloc_reserve(p->bytes);
    alloc_use(p->bytes);
    atomic_fetch_add(&prep_total, p->bytes);
    return p;
}

dnn_arg prepare_weights_arg(const tensor *w, const pentry *e, const dnnl_memory_desc_t *plain) {
    dnn_arg a = {DNNL_ARG_WEIGHTS, plain, w->data};
    const dnnl_memory_desc_t *want =
        dnnl_primitive_desc_query_md(e->pd, dnnl_query_exec_arg_md, DNNL_ARG_WEIGHTS);
    if (!want || dnnl_memory_desc_equal(want, plain) || w->storage == T_ARENA) return a;
    /* prepared is a cache on a const weight: the one field ops may write. */
    tensor *mw = (tensor *)w;
    prepared *p = mw->prepared;
    if (p && !dnnl_memory_desc_equal(&p->md, want)) {
        tensor_unprepare(mw);
        p = NULL;
    }
    if (!p) {
        p = prepare_make(w, plain, want);
        if (!p) {
            log_warn("prepare: could not keep a prepared weight; reordering per call");
            return a;
        }
        mw->prepared = p;
    }
    a.md = &p->md;
    a.ptr = p->data;
    return a;
}
