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

enum { DIM_D = -1, DIM_MLP = -2, DIM_VOCAB = -3, DIM_POS = -4 };   /* symbolic dims */

typedef struct { size_t off; const char *name; int ndim; int dims[2]; } clip_key;

/* Outside the layers: offsets into clip_weights. */
static const clip_key clip_global_keys[] = {
    {offsetof(clip_weights, token_embedding), "embeddings.token_embedding.weight", 2, {DIM_VOCAB, DIM_D}},
    {offsetof(clip_weights, position_embedding), "embeddings.position_embedding.weight", 2, {DIM_POS, DIM_D}},
    {offsetof(clip_weights, final_layer_norm_w), "final_layer_norm.weight", 1, {DIM_D}},
    {offsetof(clip_weights, final_layer_norm_b), "final_layer_norm.bias", 1, {DIM_D}},
};
#define CLIP_GLOBAL_KEYS (sizeof clip_global_keys / sizeof *clip_global_keys)

/* Inside encoder layer N: offsets into clip_layer. */
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

/* A key's shape for cfg. */
static void clip_key_shape(const clip_key *k, const clip_config *cfg, int64_t ne[2]) {
    for (int i = 0; i < k->ndim; i++) {
        int d = k->dims[i];
        ne[i] = d == DIM_D ? cfg->dim : d == DIM_MLP ? cfg->mlp : d == DIM_VOCAB ? cfg->vocab
              : d == DIM_POS ? cfg->positions : d;
    }
}

/* Calls fn on every weight of the text model (layer -1: outside the layers), in the
 * order the model binds them; stops at the first non-zero return. */
typedef int (*clip_visit_fn)(void *ctx, int layer, const clip_key *k);
static int clip_walk(const clip_config *cfg, clip_visit_fn fn, void *ctx) {
    for (size_t k = 0; k < CLIP_GLOBAL_KEYS; k++)
        if (fn(ctx, -1, &clip_global_keys[k])) return -1;
    for (int l = 0; l < cfg->layers; l++)
        for (size_t k = 0; k < CLIP_LAYER_KEYS; k++)
            if (fn(ctx, l, &clip_layer_keys[k])) return -1;
    return 0;
}

/* HF-named weight `k` of encoder layer `layer` (-1: outside the layers) with the
 * expected shape, as an owned copy: the layers' weights as model weights (linear ones in
 * the dtype ops compute in, held once as model.h tells; norms in f32), the rest as plain
 * f32 that is never dropped (host loops read the embeddings and the projection). */
static tensor *bind(const clip_source *s, const clip_config *cfg, int layer, const clip_key *k,
                    char **err) {
    int64_t ne[2], want[2];
    clip_key_shape(k, cfg, ne);
    want[0] = ne[0], want[1] = ne[1];
    char key[CLIP_KEY_MAX];
    int third;
    clip_source_key(s, layer, k->name, key, sizeof key, &third);
    if (third) want[0] *= 3;
    const tensor *t = ckpt_want(s->c, err, k->ndim, want, "%s", key);
    if (!t) return NULL;
    tensor *part = third ? tensor_view(t->dt, k->ndim, ne,
                                       (char *)t->data + (size_t)(third - 1) * (t->nbytes / 3))
                         : NULL;
    dtype dt = layer >= 0 && k->ndim == 2 ? ops_weight_dt() : DT_F32;
    const tensor *src = part ? part : t;
    tensor *f = third && !part ? NULL : layer >= 0 ? tensor_weight_copy(src, dt) : tensor_to_f32(src);
    tensor_free(part);
    if (!f) *err = clip_errf("out of memory converting %s to %s", key, dtype_name(dt));
    return f;
}

/* Shape of HF-named weight `name` (layer as for bind), or NULL with *err set. */
static const tensor *peek(const clip_source *s, int layer, const char *name, char **err) {
    char key[CLIP_KEY_MAX];
    int third;
    clip_source_key(s, layer, name, key, sizeof key, &third);
    return ckpt_want(s->c, err, 0, NULL, "%s", key);
}

/* Width, vocabulary and positions from the embeddings, depth from the layer keys. The
 * family follows from the width: OpenAI's ViT-L (768, SD1) uses quick_gelu and pads
 * with END; the OpenCLIP encoders use erf GELU and pad with 0, and SD2's ViT-H (1024)
 * takes the penultimate layer unless CLIPSetLastLayer says otherwise. */
static int clip_detect(const clip_source *s, clip_config *cfg, char **err) {
    const tensor *tok = peek(s, -1, "embeddings.token_embedding.weight", err);
    const tensor *pos = tok ? peek(s, -1, "embeddings.position_embedding.weight", err) : NULL;
    if (!pos) return -1;
    cfg->vocab = (int)tok->ne[0];
    cfg->dim = (int)tok->ne[1];
    cfg->positions = (int)pos->ne[0];
    if (tok->ndim != 2 || pos->ndim != 2 || cfg->dim <= 0 || cfg->dim % CLIP_HEAD_DIM ||
        pos->ne[1] != cfg->dim || cfg->positions < 2 || cfg->vocab < 2) {
        *err = clip_errf("%s: token/position embeddings of unexpected shapes [%lld,%lld] and "
                         "[%lld,%lld]", s->prefix, (long long)tok->ne[0], (long long)tok->ne[1],
                         (long long)pos->ne[0], (long long)pos->ne[1]);
        return -1;
    }
    cfg->heads = cfg->dim / CLIP_HEAD_DIM;
    char key[CLIP_KEY_MAX];
    int third;
    for (cfg->layers = 0;; cfg->layers++) {
        clip_source_key(s, cfg->layers, "layer_norm1.weight", key, sizeof key, &third);
        if (!ckpt_get(s->c, key)) break;
    }
    const tensor *fc1 = peek(s, 0, "mlp.fc1.weight", err);
    if (!fc1) return -1;
    cfg->mlp = (int)fc1->ne[0];
    cfg->act = cfg->dim == 768 ? ACT_QUICK_GELU : ACT_GELU;
    cfg->pad_id = cfg->dim == 768 ? 49407 : 0;
    cfg->default_skip = cfg->dim == 1024 ? -2 : -1;
    cfg->layer_norm_hidden = 1;
    return 0;
}

typedef struct { clip_model *m; const clip_source *s; char **err; } clip_binding;

static int clip_bind_one(void *ctx, int layer, const clip_key *k) {
    clip_binding *b = ctx;
    tensor *t = bind(b->s, &b->m->cfg, layer, k, b->err);
    if (!t) return -1;
    char *base = layer < 0 ? (char *)&b->m->w : (char *)&b->m->w.layers[layer];
    *(tensor **)(base + k->off) = t;
    return 0;
}

static int clip_bind(clip_model *m, const clip_source *s, char **err) {
    m->w.layers = calloc((size_t)m->cfg.layers, sizeof *m->w.layers);
    if (!m->w.layers) { *err = clip_errf("out of memory"); return -1; }
    clip_binding b = {m, s, err};
    return clip_walk(&m->cfg, clip_bind_one, &b);
}

typedef struct { const clip_source *s; const clip_config *cfg; synth_keys *keys; dtype dt; } clip_listing;

static int clip_list_one(void *ctx, int layer, const clip_key *k) {
    clip_listing *l = ctx;
    int64_t ne[2];
    char key[CLIP_KEY_MAX];
    int third;
    clip_key_shape(k, l->cfg, ne);
    clip_source_key(l->s, layer, k->name, key, sizeof key, &third);
    return synth_keys_add(l->keys, key, l->dt, k->ndim, ne);
}

int clip_keys(const char *prefix, const clip_config *cfg, synth_keys *keys, dtype dt, char **err) {
    clip_source s = {.c = NULL};
    snprintf(s.prefix, sizeof s.prefix, "%s", prefix);
    clip_listing l = {&s, cfg, keys, dt};
    *err = clip_walk(cfg, clip_list_one, &l) ? clip_errf("out of memory") : NULL;
    return *err ? -1 : 0;
}

clip_config clip_config_l(void) {
    return (clip_config){.dim = 768, .layers = 12, .heads = 768 / CLIP_HEAD_DIM, .mlp = 3072,
                         .vocab = 49408, .positions = 77, .act = ACT_QUICK_GELU, .pad_id = 49407,
                         .default_skip = -1, .layer_norm_hidden = 1};
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
    clip_source src;
    clip_source_init(&src, c, prefix);
    if (clip_detect(&src, &m->cfg, err) || clip_bind(m, &src, err)) {
        clip_free(m);
        return NULL;
    }
    m->mask = causal_mask(m->cfg.positions);
    m->io = arena_new();
    m->scratch = arena_new();
    m->hold[0] = arena_new();
    m->hold[1] = arena_new();
    if (!m->mask || !m->io || !m->scratch || !m->hold[0] || !m->hold[1]) {
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
    tensor_free(w->text_projection);
    for (int l = 0; w->layers && l < m->cfg.layers; l++)
        for (size_t k = 0; k < CLIP_LAYER_KEYS; k++)
            tensor_free(*(tensor **)((char *)&w->layers[l] + clip_layer_keys[k].off));
    free(w->layers);
    tensor_free(m->mask);
    arena *arenas[] = {m->io, m->scratch, m->hold[0], m->hold[1]};
    for (size_t i = 0; i < sizeof arenas / sizeof *arenas; i++)
        if (arenas[i]) arena_free(arenas[i]);
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
    tensor *x = arena_tensor(m->io, DT_F32, 3, (int64_t[]){batch, P, D});
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

static tensor *as_f32(tensor *x) { return x && x->dt != DT_F32 ? op_cast(x, DT_F32) : x; }

static tensor *final_norm_f32(const clip_model *m, const tensor *x) {
    return as_f32(op_layer_norm(x, m->w.final_layer_norm_w, m->w.final_layer_norm_b,
                                CLIP_LN_EPS));
}

/* A copy of t carved from a. */
static tensor *arena_copy(arena *a, const tensor *t) {
    tensor *c = t ? arena_tensor(a, t->dt, t->ndim, t->ne) : NULL;
    if (c) memcpy(c->data, t->data, t->nbytes);
    return c;
}

int clip_forward(clip_model *m, const int32_t *ids, const int32_t *embed_idx,
                 const float *embeds, int batch, int hidden_index, tensor **final,
                 tensor **hidden, char **err) {
    *err = NULL;
    arena *prev = arena_use(m->io);
    arena_reset(m->io);
    tensor *x = clip_embeddings(m, ids, embed_idx, embeds, batch, err), *h = NULL;
    for (int l = 0; x && l < m->cfg.layers; l++) {
        arena_use(m->scratch);
        arena_reset(m->scratch);
        tensor *y = clip_layer_forward(m, &m->w.layers[l], x);
        arena_reset(m->hold[l % 2]);   /* held the output of layer l-2, dead by now */
        x = arena_copy(m->hold[l % 2], y);
        if (l == hidden_index) h = arena_copy(m->io, y);
    }
    arena_use(m->io);
    *final = x ? final_norm_f32(m, x) : NULL;
    if (hidden) *hidden = !h ? NULL : m->cfg.layer_norm_hidden ? final_norm_f32(m, h) : as_f32(h);
    arena_use(prev);
    if (*final && (!hidden || *hidden)) return 0;
    if (!*err) *err = clip_errf("CLIP text encoder: a tensor op failed (out of memory?)");
    return -1;
}
