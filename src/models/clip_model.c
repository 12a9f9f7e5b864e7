/* clip_model.c -- the CLIP text transformer, top to bottom (see clip_model.h).
 *
 *   x = token_embedding[ids] + position_embedding              (batch, 77, D)
 *   for each encoder layer (pre-LN):
 *       x = x + out_proj(attention(q_proj, k_proj, v_proj of layer_norm1(x), causal mask))
 *       x = x + fc2(act(fc1(layer_norm2(x))))
 *   final = final_layer_norm(x)
 *
 * Layer norms use eps 1e-5; attention scales by dim_head^-0.5 with the causal mask
 * -FLT_MAX above the diagonal and no padding mask, as ComfyUI's CLIP does.
 */
#include "models/clip_model.h"
#include "models/clip_internal.h"
#include "tensor/arena.h"

#include <float.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIP_LN_EPS 1e-5f
#define CLIP_HEAD_DIM 64

char *clip_errf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

/* ---- binding weights by name ---- */

enum { DIM_D = -1, DIM_MLP = -2 };   /* symbolic dims in the key tables */

typedef struct { size_t off; const char *name; int ndim; int dims[2]; } clip_key;

static const clip_key clip_layer_keys[] = {
    {offsetof(clip_layer, layer_norm1_w), "layer_norm1.weight", 1, {DIM_D}},
    {offsetof(clip_layer, layer_norm1_b), "layer_norm1.bias", 1, {DIM_D}},
    {offsetof(clip_layer, q_proj_w), "self_attn.q_proj.weight", 2, {DIM_D, DIM_D}},
    {offsetof(clip_layer, q_proj_b), "self_attn.q_proj.bias", 1, {DIM_D}},
    {offsetof(clip_layer, k_proj_w), "self_attn.k_proj.weight", 2, {DIM_D, DIM_D}},
    {offsetof(clip_layer, k_proj_b), "self_attn.k_proj.bias", 1, {DIM_D}},
    {offsetof(clip_layer, v_proj_w), "self_attn.v_proj.weight", 2, {DIM_D, DIM_D}},
    {offsetof(clip_layer, v_proj_b), "self_attn.v_proj.bias", 1, {DIM_D}},
    {offsetof(clip_layer, out_proj_w), "self_attn.out_proj.weight", 2, {DIM_D, DIM_D}},
    {offsetof(clip_layer, out_proj_b), "self_attn.out_proj.bias", 1, {DIM_D}},
    {offsetof(clip_layer, layer_norm2_w), "layer_norm2.weight", 1, {DIM_D}},
    {offsetof(clip_layer, layer_norm2_b), "layer_norm2.bias", 1, {DIM_D}},
    {offsetof(clip_layer, fc1_w), "mlp.fc1.weight", 2, {DIM_MLP, DIM_D}},
    {offsetof(clip_layer, fc1_b), "mlp.fc1.bias", 1, {DIM_MLP}},
    {offsetof(clip_layer, fc2_w), "mlp.fc2.weight", 2, {DIM_D, DIM_MLP}},
    {offsetof(clip_layer, fc2_b), "mlp.fc2.bias", 1, {DIM_D}},
};
#define CLIP_LAYER_KEYS (sizeof clip_layer_keys / sizeof *clip_layer_keys)

/* The named tensor with the expected shape, widened to an owned f32 copy. */
static tensor *bind(const ckpt *c, const clip_config *cfg, int ndim, const int *dims,
                    char **err, const char *prefix, const char *mid, const char *name) {
    int64_t ne[2];
    for (int i = 0; i < ndim; i++)
        ne[i] = dims[i] == DIM_D ? cfg->dim : dims[i] == DIM_MLP ? cfg->mlp : dims[i];
    const tensor *t = ckpt_want(c, err, ndim, ne, "%s%s%s", prefix, mid, name);
    if (!t) return NULL;
    tensor *f = tensor_to_f32(t);
    if (!f) *err = clip_errf("out of memory widening %s%s%s", prefix, mid, name);
    return f;
}

/* Width, vocabulary and positions from the embeddings, depth from the layer keys. */
static int clip_detect(const ckpt *c, const char *prefix, clip_config *cfg, char **err) {
    const tensor *tok = ckpt_want(c, err, 0, NULL, "%sembeddings.token_embedding.weight", prefix);
    if (!tok) return -1;
    const tensor *pos = ckpt_want(c, err, 0, NULL, "%sembeddings.position_embedding.weight",
                                  prefix);
    if (!pos) return -1;
    cfg->vocab = (int)tok->ne[0];
    cfg->dim = (int)tok->ne[1];
    cfg->positions = (int)pos->ne[0];
    if (tok->ndim != 2 || pos->ndim != 2 || cfg->dim <= 0 || cfg->dim % CLIP_HEAD_DIM || pos->ne[1] != cfg->dim ||
        cfg->positions < 2 || cfg->vocab < 2) {
        *err = clip_errf("%sembeddings: unexpected shapes [%lld,%lld] and [%lld,%lld]", prefix,
                         (long long)tok->ne[0], (long long)tok->ne[1], (long long)pos->ne[0],
                         (long long)pos->ne[1]);
        return -1;
    }
    cfg->heads = cfg->dim / CLIP_HEAD_DIM;
    char name[512];
    for (cfg->layers = 0;; cfg->layers++) {
        snprintf(name, sizeof name, "%sencoder.layers.%d.layer_norm1.weight", prefix, cfg->layers);
        if (!ckpt_get(c, name)) break;
    }
    const tensor *fc1 = ckpt_want(c, err, 0, NULL, "%sencoder.layers.0.mlp.fc1.weight", prefix);
    if (!fc1) return -1;
    cfg->mlp = (int)fc1->ne[0];
    /* OpenAI's ViT-L uses quick_gelu; the OpenCLIP encoders (H, bigG) use erf GELU. */
    cfg->act = cfg->dim == 768 ? ACT_QUICK_GELU : ACT_GELU;
    cfg->pad_id = cfg->dim == 768 ? 49407 : 0;
    return 0;
}

static int clip_bind(clip_model *m, const ckpt *c, const char *prefix, char **err) {
    clip_weights *w = &m->w;
    const clip_config *cfg = &m->cfg;
    static const int d[1] = {DIM_D};
    int tok[2] = {cfg->vocab, DIM_D}, pos[2] = {cfg->positions, DIM_D};
    if (!(w->token_embedding = bind(c, cfg, 2, tok, err, prefix, "", "embeddings.token_embedding.weight")) ||
        !(w->position_embedding = bind(c, cfg, 2, pos, err, prefix, "", "embeddings.position_embedding.weight")) ||
        !(w->final_layer_norm_w = bind(c, cfg, 1, d, err, prefix, "", "final_layer_norm.weight")) ||
        !(w->final_layer_norm_b = bind(c, cfg, 1, d, err, prefix, "", "final_layer_norm.bias")))
        return -1;
    w->layers = calloc((size_t)cfg->layers, sizeof *w->layers);
    if (!w->layers) { *err = clip_errf("out of memory"); return -1; }
    for (int l = 0; l < cfg->layers; l++) {
        char mid[64];
        snprintf(mid, sizeof mid, "encoder.layers.%d.", l);
        for (size_t k = 0; k < CLIP_LAYER_KEYS; k++) {
            const clip_key *key = &clip_layer_keys[k];
            tensor *t = bind(c, cfg, key->ndim, key->dims, err, prefix, mid, key->name);
            if (!t) return -1;
            *(tensor **)((char *)&w->layers[l] + key->off) = t;
        }
    }
    return 0;
}

/* Additive (positions, positions) mask: 0 on and below the diagonal, -FLT_MAX above. */
static tensor *causal_mask(int n) {
    tensor *t = tensor_new(DT_F32, 2, (int64_t[]){n, n});
    if (!t) return NULL;
    float *v = t->data;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) v[i * n + j] = j > i ? -FLT_MAX : 0.0f;
    return t;
}

clip_model *clip_load(const ckpt *c, const char *prefix, const tokenizer *tok, char **err) {
    *err = NULL;
    clip_model *m = calloc(1, sizeof *m);
    if (!m) { *err = clip_errf("out of memory"); return NULL; }
    m->tok = tok;
    if (clip_detect(c, prefix, &m->cfg, err) || clip_bind(m, c, prefix, err)) {
        clip_free(m);
        return NULL;
    }
    m->mask = causal_mask(m->cfg.positions);
    m->arena = arena_new();
    if (!m->mask || !m->arena) {
        *err = clip_errf("out of memory");
        clip_free(m);
        return NULL;
    }
    return m;
}

void clip_free(clip_model *m) {
    if (!m) return;
    clip_weights *w = &m->w;
    tensor_free(w->token_embedding);
    tensor_free(w->position_embedding);
    tensor_free(w->final_layer_norm_w);
    tensor_free(w->final_layer_norm_b);
    for (int l = 0; w->layers && l < m->cfg.layers; l++)
        for (size_t k = 0; k < CLIP_LAYER_KEYS; k++)
            tensor_free(*(tensor **)((char *)&w->layers[l] + clip_layer_keys[k].off));
    free(w->layers);
    tensor_free(m->mask);
    if (m->arena) arena_free(m->arena);
    for (size_t i = 0; i < m->n_emb_dirs; i++) free(m->emb_dirs[i]);
    free(m->emb_dirs);
    free(m);
}

const clip_config *clip_get_config(const clip_model *m) { return &m->cfg; }

/* ---- forward ---- */

/* x = token_embedding[ids] + position_embedding, f32, (batch, positions, dim). */
static tensor *clip_embeddings(const clip_model *m, const int32_t *ids, const int32_t *embed_idx,
                               const float *embeds, int batch, char **err) {
    const clip_config *cfg = &m->cfg;
    const int64_t P = cfg->positions, D = cfg->dim;
    tensor *x = arena_tensor(m->arena, DT_F32, 3, (int64_t[]){batch, P, D});
    if (!x) { *err = clip_errf("out of memory"); return NULL; }
    const float *tok = m->w.token_embedding->data, *pos = m->w.position_embedding->data;
    float *out = x->data;
    for (int64_t r = 0; r < batch * P; r++) {
        const float *src;
        if (ids[r] >= 0 && ids[r] < cfg->vocab) {
            src = tok + (int64_t)ids[r] * D;
        } else if (ids[r] < 0 && embeds && embed_idx && embed_idx[r] >= 0) {
            src = embeds + (int64_t)embed_idx[r] * D;
        } else {
            *err = clip_errf("token id %d is outside the vocabulary (%d)", ids[r], cfg->vocab);
            return NULL;
        }
        const float *p = pos + (r % P) * D;
        for (int64_t i = 0; i < D; i++) out[r * D + i] = src[i] + p[i];
    }
    return x;
}

static tensor *clip_layer_forward(const clip_model *m, const clip_layer *L, const tensor *x) {
    tensor *h = op_layer_norm(x, L->layer_norm1_w, L->layer_norm1_b, CLIP_LN_EPS);
    if (!h) return NULL;
    tensor *q = op_linear(h, L->q_proj_w, L->q_proj_b, ACT_NONE, NULL);
    tensor *k = op_linear(h, L->k_proj_w, L->k_proj_b, ACT_NONE, NULL);
    tensor *v = op_linear(h, L->v_proj_w, L->v_proj_b, ACT_NONE, NULL);
    if (!q || !k || !v) return NULL;
    tensor *a = op_attention(q, k, v, m->cfg.heads, m->mask);
    if (!a) return NULL;
    x = op_linear(a, L->out_proj_w, L->out_proj_b, ACT_NONE, x);
    if (!x) return NULL;
    h = op_layer_norm(x, L->layer_norm2_w, L->layer_norm2_b, CLIP_LN_EPS);
    if (!h) return NULL;
    h = op_linear(h, L->fc1_w, L->fc1_b, m->cfg.act, NULL);
    if (!h) return NULL;
    return op_linear(h, L->fc2_w, L->fc2_b, ACT_NONE, x);
}

static tensor *final_norm_f32(const clip_model *m, const tensor *x) {
    tensor *y = op_layer_norm(x, m->w.final_layer_norm_w, m->w.final_layer_norm_b, CLIP_LN_EPS);
    return y && y->dt != DT_F32 ? op_cast(y, DT_F32) : y;
}

int clip_forward(clip_model *m, const int32_t *ids, const int32_t *embed_idx,
                 const float *embeds, int batch, int hidden_index, tensor **final,
                 tensor **hidden, char **err) {
    *err = NULL;
    arena *prev = arena_use(m->arena);
    arena_reset(m->arena);
    tensor *x = clip_embeddings(m, ids, embed_idx, embeds, batch, err), *h = NULL;
    for (int l = 0; x && l < m->cfg.layers; l++) {
        x = clip_layer_forward(m, &m->w.layers[l], x);
        if (l == hidden_index) h = x;
    }
    *final = x ? final_norm_f32(m, x) : NULL;
    if (hidden) *hidden = h ? final_norm_f32(m, h) : NULL;
    arena_use(prev);
    if (*final && (!hidden || *hidden)) return 0;
    if (!*err) *err = clip_errf("CLIP text encoder: a tensor op failed (out of memory?)");
    return -1;
}
