/* model.c -- weight binding by checkpoint key, block scopes, padding (see model.h). */
#include "models/model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "tensor/ops.h"

void model_loader_init(model_loader *ld, const ckpt *ck, const char *prefix,
                       model_params *params, char *err, size_t errlen) {
    memset(ld, 0, sizeof(*ld));
    ld->ck = ck;
    ld->prefix = prefix;
    ld->params = params;
    ld->err = err;
    ld->errlen = errlen;
    if (errlen) err[0] = '\0';
}

void model_loader_record(model_loader *ld, synth_keys *keys, dtype dt) {
    ld->record = keys;
    ld->record_dt = dt;
}

static void model_fail(model_loader *ld, const char *fmt, ...) {
    if (ld->failed) return;
    ld->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ld->err, ld->errlen, fmt, ap);
    va_end(ap);
}

static const tensor *model_lookup(const model_loader *ld, const char *key) {
    if (!ld->ck) return NULL;
    char full[MODEL_PATH_MAX + 64];
    snprintf(full, sizeof(full), "%s%s", ld->prefix, key);
    return ckpt_get(ld->ck, full);
}

int model_has(const model_loader *ld, const char *key) {
    return model_lookup(ld, key) != NULL;
}

int model_shape(const model_loader *ld, const char *key, int64_t *ne) {
    const tensor *t = model_lookup(ld, key);
    if (!t) return -1;
    for (int i = 0; i < t->ndim; i++) ne[i] = t->ne[i];
    return t->ndim;
}

static void model_params_add(model_params *p, tensor *t) {
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 256;
        tensor **v = realloc(p->v, (size_t)cap * sizeof(*v));
        if (!v) abort();   /* a few KB of pointers; nothing sensible to do without them */
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = t;
}

static void model_shape_str(char *buf, size_t len, int ndim, const int64_t *ne) {
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "," : "[", (long long)ne[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

tensor *model_tensor(model_loader *ld, const char *key, int ndim, const int64_t *shape) {
    if (ld->failed) return NULL;
    if (ld->record) {
        char full[MODEL_PATH_MAX + 64];
        snprintf(full, sizeof(full), "%s%s", ld->prefix, key);
        if (synth_keys_add(ld->record, full, ld->record_dt, ndim, shape))
            model_fail(ld, "out of memory listing '%s'", full);
        return NULL;
    }
    const tensor *src = model_lookup(ld, key);
    if (!src) {
        model_fail(ld, "checkpoint has no tensor '%s%s'", ld->prefix, key);
        return NULL;
    }
    int same = src->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = src->ne[i] == shape[i];
    if (!same) {
        char want[96], got[96];
        model_shape_str(want, sizeof(want), ndim, shape);
        model_shape_str(got, sizeof(got), src->ndim, src->ne);
        model_fail(ld, "tensor '%s%s' has shape %s, expected %s", ld->prefix, key, got, want);
        return NULL;
    }
    dtype dt = ndim >= 2 ? ops_weight_dt() : DT_F32;
    tensor *t = tensor_weight_copy(src, dt);
    if (!t) {
        model_fail(ld, "tensor '%s%s' (%s): cannot convert to %s (out of memory or not a "
                   "float tensor)", ld->prefix, key, dtype_name(src->dt), dtype_name(dt));
        return NULL;
    }
    model_params_add(ld->params, t);
    return t;
}

void model_layer_bind(model_loader *ld, model_layer *l, const char *path,
                      int ndim, const int64_t *wshape, int has_bias) {
    char key[MODEL_PATH_MAX + 8];
    snprintf(key, sizeof(key), "%s.weight", path);
    l->weight = model_tensor(ld, key, ndim, wshape);
    l->bias = NULL;
    if (has_bias) {
        snprintf(key, sizeof(key), "%s.bias", path);
        l->bias = model_tensor(ld, key, SHAPE(wshape[0]));
    }
}

void model_conv_bind(model_loader *ld, model_layer *l, const char *path,
                     int64_t in, int64_t out, int k) {
    model_layer_bind(ld, l, path, SHAPE(out, in, k, k), 1);
}

void model_linear_bind(model_loader *ld, model_layer *l, const char *path,
                       int64_t in, int64_t out, int has_bias) {
    model_layer_bind(ld, l, path, SHAPE(out, in), has_bias);
}

/* Rows [r0, r0 + rows) of a bound weight as a weight of its own, recorded in params. */
static tensor *model_rows(model_loader *ld, const tensor *t, int64_t r0, int64_t rows) {
    size_t row_bytes = t->nbytes / (size_t)t->ne[0];
    tensor v = *t;
    v.storage = T_BORROWED;
    v.prepared = NULL;
    v.ne[0] = rows;
    v.nbytes = row_bytes * (size_t)rows;
    v.data = (char *)t->data + row_bytes * (size_t)r0;
    tensor *p = tensor_weight_copy(&v, t->dt);
    if (!p) model_fail(ld, "out of memory splitting a weight");
    else model_params_add(ld->params, p);
    return p;
}

/* Frees t and forgets it (it was bound, so it is in params). */
static void model_params_drop(model_params *p, tensor *t) {
    for (int i = 0; t && i < p->n; i++) {
        if (p->v[i] != t) continue;
        memmove(&p->v[i], &p->v[i + 1], (size_t)(p->n - i - 1) * sizeof(*p->v));
        p->n--;
        tensor_free(t);
        return;
    }
}

void model_linear_split_bind(model_loader *ld, model_layer *parts, int n, const char *path,
                             int64_t in, int64_t out, int has_bias) {
    model_layer whole;
    model_linear_bind(ld, &whole, path, in, out, has_bias);
    int64_t rows = out / n;
    for (int i = 0; i < n; i++) {
        parts[i].weight = whole.weight ? model_rows(ld, whole.weight, i * rows, rows) : NULL;
        parts[i].bias = whole.bias ? model_rows(ld, whole.bias, i * rows, rows) : NULL;
    }
    model_params_drop(ld->params, whole.weight);
    model_params_drop(ld->params, whole.bias);
}

void model_conv_up2_bind(model_loader *ld, model_layer *l, tensor *up2[4], const char *path,
                         int64_t ch) {
    model_conv_bind(ld, l, path, ch, ch, 3);
    for (int i = 0; i < 4; i++) up2[i] = NULL;
    if (!l->weight || backend_settings()->opt < OPT_O3) return;
    char key[MODEL_PATH_MAX + 8];
    snprintf(key, sizeof key, "%s.weight", path);
    /* From the checkpoint's values, not l->weight (already in the compute dtype). */
    if (op_conv_up2_weights(model_lookup(ld, key), l->weight->dt, up2)) {
        model_fail(ld, "out of memory deriving the upsample's phase kernels");
        return;
    }
    for (int i = 0; i < 4; i++) model_params_add(ld->params, up2[i]);
}

void model_norm_bind(model_loader *ld, model_layer *l, const char *path, int64_t channels) {
    model_layer_bind(ld, l, path, SHAPE(channels), 1);
}

void model_params_free(model_params *p) {
    for (int i = 0; i < p->n; i++) tensor_free(p->v[i]);
    free(p->v);
    memset(p, 0, sizeof(*p));
}

size_t model_params_bytes(const model_params *p) {
    size_t n = 0;
    for (int i = 0; i < p->n; i++) n += tensor_held_bytes(p->v[i]);
    return n;
}

void model_path(char *buf, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, MODEL_PATH_MAX, fmt, ap);
    va_end(ap);
}

arena *model_scope_begin(arena *scratch) {
    arena_reset(scratch);
    return arena_use(scratch);
}

tensor *model_scope_end(arena *outer, const tensor *result) {
    arena_use(outer);
    return result ? op_scale(result, 1.0f, 0.0f) : NULL;
}

tensor *model_pad_bottom_right(const tensor *x) {
    /* Zeros shaped like one column / one row of x, made by the ops so they live in the
     * current arena: 0*x + 0 is +0 for every finite x. */
    tensor *col = op_scale(op_slice(x, 3, 0, 1), 0.0f, 0.0f);
    tensor *wide = op_concat(x, col, 3);
    tensor *row = op_scale(op_slice(wide, 2, 0, 1), 0.0f, 0.0f);
    return op_concat(wide, row, 2);
}

int model_chain_init(model_chain *c) {
    c->scratch = arena_new();
    c->hold[0] = arena_new();
    c->hold[1] = arena_new();
    c->k = 0;
    if (c->scratch && c->hold[0] && c->hold[1]) return 0;
    model_chain_free(c);
    return -1;
}

void model_chain_free(model_chain *c) {
    arena_free(c->scratch);
    arena_free(c->hold[0]);
    arena_free(c->hold[1]);
    memset(c, 0, sizeof(*c));
}

void model_chain_reset(model_chain *c) {
    arena_reset(c->hold[0]);
    arena_reset(c->hold[1]);
    arena_reset(c->scratch);
    c->k = 0;
}

arena *model_chain_begin(model_chain *c) {
    return model_scope_begin(c->scratch);
}

tensor *model_chain_end(model_chain *c, const tensor *result) {
    /* The hold arena written two steps ago holds nothing alive any more. */
    arena *dst = c->hold[c->k++ & 1];
    arena_reset(dst);
    return model_scope_end(dst, result);
}

size_t model_chain_peak(const model_chain *c) {
    return arena_peak(c->scratch) + arena_peak(c->hold[0]) + arena_peak(c->hold[1]);
}

tensor *model_to_tokens(const tensor *x) {
    if (!x) return NULL;
    tensor *t = op_permute(x, (int[]){0, 2, 3, 1});
    if (!t) return NULL;
    tensor_reshape(t, 3, (int64_t[]){x->ne[0], x->ne[2] * x->ne[3], x->ne[1]});
    return t;
}

tensor *model_from_tokens(tensor *t, const tensor *like) {
    if (!t || !like) return NULL;
    tensor_reshape(t, 4, (int64_t[]){like->ne[0], like->ne[2], like->ne[3], like->ne[1]});
    return op_permute(t, (int[]){0, 3, 1, 2});
}
