/* ops_util.c -- outputs, scratch and argument errors for the op files. */
#include "tensor/ops_internal.h"
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tensor *ops_out(dtype dt, int ndim, const int64_t *ne) {
    arena *a = arena_current_get();
    tensor *t = a ? arena_tensor(a, dt, ndim, ne) : tensor_new(dt, ndim, ne);
    if (!t) log_error("ops: out of memory for a %s tensor of %d dims", dtype_name(dt), ndim);
    return t;
}

void scratch_begin(scratch *s) {
    s->a = arena_current_get();
    s->nheap = 0;
    if (s->a) s->mark = arena_get_mark(s->a);
}

void *scratch_alloc(scratch *s, size_t nbytes) {
    if (s->a) return arena_alloc(s->a, nbytes);
    if (s->nheap == (int)(sizeof s->heap / sizeof s->heap[0])) return NULL;
    void *p = aligned_alloc(64, (nbytes + 63) & ~(size_t)63);
    if (p) s->heap[s->nheap++] = p;
    return p;
}

void scratch_end(scratch *s) {
    if (s->a) arena_release(s->a, s->mark);
    for (int i = 0; i < s->nheap; i++) free(s->heap[i]);
    s->nheap = 0;
}

void ops_bad(const char *op, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_error("%s: %s", op, msg);
}

int ops_float_dt(dtype dt) { return dt == DT_F32 || dt == DT_F16 || dt == DT_BF16; }

int ops_copy(tensor *dst, const tensor *src) {
    if (dst->dt == src->dt) {
        memcpy(dst->data, src->data, dst->nbytes);
        return 0;
    }
    int64_t n = tensor_numel(src);
    dnnl_memory_desc_t ms, md;
    dnn_md(&ms, src->dt, 1, &n);
    dnn_md(&md, dst->dt, 1, &n);
    return run_reorder(&ms, src->data, &md, dst->data);
}

void pkey_md(pkey *k, const dnnl_memory_desc_t *md) {
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    pkey_push(k, md->data_type);
    pkey_push(k, md->ndims);
    for (int i = 0; i < md->ndims; i++) {
        pkey_push(k, md->dims[i]);
        pkey_push(k, b->strides[i]);
    }
    /* Blocked layouts (prepared weights) may share outer strides: their blocks differ. */
    pkey_push(k, b->inner_nblks);
    for (int i = 0; i < b->inner_nblks; i++) pkey_push(k, b->inner_blks[i] * 16 + b->inner_idxs[i]);
}
