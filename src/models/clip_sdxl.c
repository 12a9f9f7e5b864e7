/* clip_sdxl.c -- see clip_sdxl.h. */
#include "models/clip_sdxl.h"
#include "models/clip_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct clip_sdxl {
    clip_model *l, *g;
};

/* OpenCLIP keeps text_projection as (dim, proj) for x @ P; as a Linear weight it is the
 * transpose (ComfyUI transposes it at load too). Hugging Face naming stores the Linear. */
static tensor *load_projection(const ckpt *c, const char *prefix, int dim, char **err) {
    char key[CLIP_KEY_MAX];
    snprintf(key, sizeof key, "%stext_projection.weight", prefix);
    const tensor *lin = ckpt_get(c, key);
    if (lin) {
        const tensor *t = ckpt_want(c, err, 2, (int64_t[]){lin->ne[0], dim}, "%s", key);
        tensor *f = t ? tensor_to_f32(t) : NULL;
        if (t && !f) *err = clip_errf("out of memory widening %s", key);
        return f;
    }
    snprintf(key, sizeof key, "%stext_projection", prefix);
    const tensor *p = ckpt_get(c, key);
    if (!p || p->ndim != 2 || p->ne[0] != dim) {
        *err = clip_errf("%s: no text_projection of shape [%d, n]", prefix, dim);
        return NULL;
    }
    tensor *f = tensor_to_f32(p);
    tensor *t = f ? tensor_new(DT_F32, 2, (int64_t[]){p->ne[1], dim}) : NULL;
    if (t) {
        const float *src = f->data;
        float *dst = t->data;
        for (int64_t i = 0; i < dim; i++)
            for (int64_t o = 0; o < p->ne[1]; o++) dst[o * dim + i] = src[i * p->ne[1] + o];
    } else {
        *err = clip_errf("out of memory transposing %s", key);
    }
    tensor_free(f);
    return t;
}

clip_sdxl *clip_sdxl_load(const ckpt *c, const char *l_prefix, const char *g_prefix,
                          const tokenizer *tok, char **err) {
    *err = NULL;
    clip_sdxl *x = calloc(1, sizeof *x);
    if (!x) { *err = clip_errf("out of memory"); return NULL; }
    if ((l_prefix && !(x->l = clip_load(c, l_prefix, tok, err))) ||
        !(x->g = clip_load(c, g_prefix, tok, err)) ||
        !(x->g->w.text_projection = load_projection(c, g_prefix, x->g->cfg.dim, err))) {
        clip_sdxl_free(x);
        return NULL;
    }
    clip_model *both[2] = {x->g, x->l};
    for (int i = 0; i < 2 && both[i]; i++) {
        both[i]->cfg.default_skip = -2;
        both[i]->cfg.layer_norm_hidden = 0;
    }
    x->g->cfg.pad_id = 0;
    return x;
}

void clip_sdxl_free(clip_sdxl *x) {
    if (!x) return;
    clip_free(x->l);
    clip_free(x->g);
    free(x);
}

int clip_sdxl_set_embedding_dirs(clip_sdxl *x, const char *const *dirs, size_t n) {
    return (x->l && clip_set_embedding_dirs(x->l, dirs, n)) ||
                   clip_set_embedding_dirs(x->g, dirs, n) ? -1 : 0;
}

/* cond = [l | g] on the feature axis, row by row. */
static tensor *concat_features(const tensor *l, const tensor *g) {
    const int64_t rows = l->ne[1], dl = l->ne[2], dg = g->ne[2];
    tensor *t = tensor_new(DT_F32, 3, (int64_t[]){1, rows, dl + dg});
    if (!t) return NULL;
    float *dst = t->data;
    for (int64_t r = 0; r < rows; r++) {
        memcpy(dst + r * (dl + dg), (const float *)l->data + r * dl, (size_t)dl * sizeof *dst);
        memcpy(dst + r * (dl + dg) + dl, (const float *)g->data + r * dg,
               (size_t)dg * sizeof *dst);
    }
    return t;
}

/* The refiner: clip_g alone. */
static int encode_g(clip_sdxl *x, const char *text, int clip_skip, tensor **cond,
                    tensor **pooled, char **err) {
    tok_chunks tg;
    if (clip_tokenize(x->g, text, &tg, err)) return -1;
    int rc = clip_encode_tokens(x->g, &tg, clip_skip, cond, pooled, err);
    tok_chunks_free(&tg);
    return rc;
}

int clip_sdxl_encode(clip_sdxl *x, const char *text_l, const char *text_g, int clip_skip,
                     tensor **cond, tensor **pooled, char **err) {
    *cond = *pooled = NULL;
    if (!x->l) return encode_g(x, text_g, clip_skip, cond, pooled, err);
    tok_chunks tl = {0}, tg = {0};
    tensor *l_out = NULL, *l_pooled = NULL, *g_out = NULL;
    int rc = -1;
    if (clip_tokenize(x->l, text_l, &tl, err) || clip_tokenize(x->g, text_g, &tg, err))
        goto done;
    size_t n = tl.n_chunks > tg.n_chunks ? tl.n_chunks : tg.n_chunks;
    if (tok_chunks_pad_to(&tl, n, x->l->tok, x->l->cfg.pad_id) ||
        tok_chunks_pad_to(&tg, n, x->g->tok, x->g->cfg.pad_id)) {
        *err = clip_errf("out of memory");
        goto done;
    }
    if (clip_encode_tokens(x->g, &tg, clip_skip, &g_out, pooled, err) ||
        clip_encode_tokens(x->l, &tl, clip_skip, &l_out, &l_pooled, err))
        goto done;
    if (!(*cond = concat_features(l_out, g_out))) {
        *err = clip_errf("out of memory");
        goto done;
    }
    rc = 0;
done:
    if (rc) {
        tensor_free(*pooled);
        *pooled = NULL;
    }
    tensor_free(l_out);
    tensor_free(l_pooled);
    tensor_free(g_out);
    tok_chunks_free(&tl);
    tok_chunks_free(&tg);
    return rc;
}
