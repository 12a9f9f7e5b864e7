/* unet.c -- openaimodel UNetModel forward pass (see unet.h; numerics: sd-numerics.md §2).
 *
 * Layout of this file, top to bottom: weights (one struct per module
 * kind, fields named after checkpoint keys), binding, then the forward pass from the
 * smallest module (ResBlock, attention) up to the whole network.
 *
 * Activations are channels last, (B, H, W, C), from the first op to the last: the
 * input latent is permuted once on the way in and the output once on the way out.
 * That is the layout oneDNN's AVX-512/AMX (brgemm) convolutions pick for themselves
 * when left free (format any), f32 and bf16. With NCHW activations each convolution
 * reordered its input and output around the call: measured with ONEDNN_VERBOSE at
 * 512x512, bf16, O2, 268 activation reorders a step (177 ms of oneDNN time); NHWC
 * leaves 5 (the latent's permute and casts, the embedding's cast). A UNet step at 512,
 * O2, one thread per build, both builds at once on the 2-core machine: bf16 5.46 ->
 * 4.90 s, fp32 14.42 -> 13.26 s (NCHW -> NHWC, same session). NHWC also makes a
 * spatial transformer's tokens (B, H*W, C) a reshape, its 1x1-conv proj_in/proj_out a
 * linear, the skip concatenation the last axis, and lets group norm + SiLU be one pass
 * (op_group_norm_nhwc), which also takes in a ResBlock's timestep embedding, one value
 * per (n, c), through its statistics and shift: h + emb is only ever that norm's input,
 * so it is never written (op_group_norm_nhwc_shift).
 * GEGLU's projection runs as its two halves, the gate's matmul multiplying by the value
 * half in its epilogue (op_linear_gated), so no (tokens, 8C) tensor is formed.
 */
#include "models/unet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/model.h"
#include "tensor/arena.h"
#include "tensor/ops.h"

#define UNET_MAX_BLOCKS MD_MAX_BLOCKS
#define UNET_GROUPS 32
#define UNET_RES_EPS 1e-5f   /* ResBlock and out GroupNorm: PyTorch's default */
#define UNET_ST_EPS 1e-6f    /* SpatialTransformer's GroupNorm */
#define UNET_LN_EPS 1e-5f    /* LayerNorms inside transformer blocks */

/* ---------------------------------------------------------------- weights */

typedef struct unet_resblock {
    int ch_in, ch_out;
    model_layer in_layers_0;     /* GroupNorm (ch_in) */
    model_layer in_layers_2;     /* conv (ch_out, ch_in, 3, 3) */
    model_layer emb_layers_1;    /* linear (ch_out, time_embed_dim) */
    model_layer out_layers_0;    /* GroupNorm (ch_out) */
    model_layer out_layers_3;    /* conv (ch_out, ch_out, 3, 3) */
    model_layer skip_connection; /* conv (ch_out, ch_in, 1, 1); weight NULL when ch_in == ch_out */
} unet_resblock;

typedef struct unet_attention {
    model_layer to_q;       /* (C, C), no bias */
    model_layer to_k;       /* (C, C) self / (C, context_dim) cross, no bias */
    model_layer to_v;       /* same as to_k */
    model_layer to_out_0;   /* (C, C) + bias */
} unet_attention;

typedef struct unet_transformer_block {
    model_layer norm1;          /* LayerNorm (C) */
    unet_attention attn1;       /* self-attention */
    model_layer norm2;          /* LayerNorm (C) */
    unet_attention attn2;       /* cross-attention over the context */
    model_layer norm3;          /* LayerNorm (C) */
    model_layer ff_net_0_proj[2];  /* GEGLU projection (8C, C) as its value and gate
                                    * halves, (4C, C) each (op_linear_gated) */
    model_layer ff_net_2;       /* (C, 4C) */
} unet_transformer_block;

typedef struct unet_spatial_transformer {
    int channels, heads, depth, linear;
    model_layer norm;                           /* GroupNorm (C) */
    model_layer proj_in;                        /* conv (C, C, 1, 1) SD1 | linear (C, C) */
    unet_transformer_block *transformer_blocks; /* (depth) */
    model_layer proj_out;                       /* like proj_in */
} unet_spatial_transformer;

/* One TimestepEmbedSequential of input_blocks / output_blocks. */
typedef struct unet_block {
    int has_conv, has_res, has_st, has_down, has_up;
    model_layer conv;              /* input_blocks.0.0 only: (model_channels, in_channels, 3, 3) */
    unet_resblock res;             /* .0 */
    unet_spatial_transformer st;   /* .1 */
    model_layer op;                /* Downsample .0.op: (C, C, 3, 3), stride 2 */
    model_layer upsample;          /* Upsample .1.conv or .2.conv: (C, C, 3, 3) after nearest 2x */
    tensor *up2[4];                /* its phase kernels (C, C, 2, 2) from O3, else NULL */
} unet_block;

struct unet {
    unet_config cfg;
    int time_embed_dim;                       /* 4 * model_channels */
    model_params params;
    model_layer time_embed_0;                 /* (time_embed_dim, model_channels) */
    model_layer time_embed_2;                 /* (time_embed_dim, time_embed_dim) */
    model_layer label_emb_0_0;                /* (time_embed_dim, adm_in_channels), SDXL */
    model_layer label_emb_0_2;                /* (time_embed_dim, time_embed_dim), SDXL */
    int n_input, n_output;
    unet_block input_blocks[UNET_MAX_BLOCKS];  /* conv_in, levels of Res(+ST), Downsample */
    int n_middle;                             /* blocks used below: 0, 1 or 2 */
    unet_block middle_block[2];               /* [0]: .0 Res + .1 ST, [1]: .2 Res */
    unet_block output_blocks[UNET_MAX_BLOCKS];
    model_layer out_0;                        /* GroupNorm (model_channels) */
    model_layer out_2;                        /* conv (out_channels, model_channels, 3, 3) */
    arena *act;                               /* skips and block outputs of one call */
    arena *scratch;                           /* the intermediates of one block */
};

/* ---------------------------------------------------------------- binding */

static void resblock_bind(model_loader *ld, unet_resblock *r, const char *path,
                          int ch_in, int ch_out, int emb_dim) {
    char p[MODEL_PATH_MAX];
    r->ch_in = ch_in;
    r->ch_out = ch_out;
    model_path(p, "%s.in_layers.0", path);   model_norm_bind(ld, &r->in_layers_0, p, ch_in);
    model_path(p, "%s.in_layers.2", path);   model_conv_bind(ld, &r->in_layers_2, p, ch_in, ch_out, 3);
    model_path(p, "%s.emb_layers.1", path);  model_linear_bind(ld, &r->emb_layers_1, p, emb_dim, ch_out, 1);
    model_path(p, "%s.out_layers.0", path);  model_norm_bind(ld, &r->out_layers_0, p, ch_out);
    model_path(p, "%s.out_layers.3", path);  model_conv_bind(ld, &r->out_layers_3, p, ch_out, ch_out, 3);
    if (ch_in != ch_out) {
        model_path(p, "%s.skip_connection", path);
        model_conv_bind(ld, &r->skip_connection, p, ch_in, ch_out, 1);
    }
}

static void attention_bind(model_loader *ld, unet_attention *a, const char *path,
                           int channels, int kv_dim) {
    char p[MODEL_PATH_MAX];
    model_path(p, "%s.to_q", path);     model_linear_bind(ld, &a->to_q, p, channels, channels, 0);
    model_path(p, "%s.to_k", path);     model_linear_bind(ld, &a->to_k, p, kv_dim, channels, 0);
    model_path(p, "%s.to_v", path);     model_linear_bind(ld, &a->to_v, p, kv_dim, channels, 0);
    model_path(p, "%s.to_out.0", path); model_linear_bind(ld, &a->to_out_0, p, channels, channels, 1);
}

static void transformer_block_bind(model_loader *ld, unet_transformer_block *b,
                                   const char *path, int c, int context_dim) {
    char p[MODEL_PATH_MAX];
    model_path(p, "%s.norm1", path);       model_norm_bind(ld, &b->norm1, p, c);
    model_path(p, "%s.attn1", path);       attention_bind(ld, &b->attn1, p, c, c);
    model_path(p, "%s.norm2", path);       model_norm_bind(ld, &b->norm2, p, c);
    model_path(p, "%s.attn2", path);       attention_bind(ld, &b->attn2, p, c, context_dim);
    model_path(p, "%s.norm3", path);       model_norm_bind(ld, &b->norm3, p, c);
    model_path(p, "%s.ff.net.0.proj", path);
    model_linear_split_bind(ld, b->ff_net_0_proj, 2, p, c, 8 * c, 1);
    model_path(p, "%s.ff.net.2", path);    model_linear_bind(ld, &b->ff_net_2, p, 4 * c, c, 1);
}

static int unet_heads(const unet_config *cfg, int channels) {
    return cfg->num_head_channels > 0 ? channels / cfg->num_head_channels : cfg->num_heads;
}

/* proj_in / proj_out: SD1 stores a 1x1 conv (C, C, 1, 1), later models a linear (C, C).
 * On channels-last tokens both are the linear, so the conv weight (the model's own
 * copy, model.h) is reshaped to (C, C). */
static void proj_bind(model_loader *ld, model_layer *l, const char *path, int c, int linear) {
    if (linear) {
        model_linear_bind(ld, l, path, c, c, 1);
    } else {
        model_conv_bind(ld, l, path, c, c, 1);
        if (l->weight) tensor_reshape(l->weight, 2, (int64_t[]){c, c});
    }
}

static int spatial_transformer_bind(model_loader *ld, unet_spatial_transformer *st,
                                    const char *path, const unet_config *cfg, int c, int depth) {
    char p[MODEL_PATH_MAX];
    st->channels = c;
    st->heads = unet_heads(cfg, c);
    st->depth = depth;
    st->linear = cfg->use_linear_in_transformer;
    st->transformer_blocks = depth ? calloc((size_t)depth, sizeof(*st->transformer_blocks)) : NULL;
    if (depth && !st->transformer_blocks) return -1;
    model_path(p, "%s.norm", path);     model_norm_bind(ld, &st->norm, p, c);
    model_path(p, "%s.proj_in", path);  proj_bind(ld, &st->proj_in, p, c, st->linear);
    for (int d = 0; d < depth; d++) {
        model_path(p, "%s.transformer_blocks.%d", path, d);
        transformer_block_bind(ld, &st->transformer_blocks[d], p, c, cfg->context_dim);
    }
    model_path(p, "%s.proj_out", path); proj_bind(ld, &st->proj_out, p, c, st->linear);
    return 0;
}

static int config_check(const unet_config *c, char *err, size_t errlen) {
    int n_res = 0;
    for (int l = 0; l < c->num_levels && l < MD_MAX_LEVELS; l++) n_res += c->num_res_blocks[l];
    int ok = c->num_levels >= 1 && c->num_levels <= MD_MAX_LEVELS && c->model_channels > 0 &&
             c->model_channels % UNET_GROUPS == 0 && c->in_channels > 0 && c->out_channels > 0 &&
             c->context_dim > 0 && n_res + c->num_levels + 1 <= UNET_MAX_BLOCKS &&
             c->n_transformer_depth == n_res &&
             c->n_transformer_depth_output == n_res + c->num_levels &&
             (c->num_head_channels > 0 || c->num_heads > 0);
    for (int l = 0; ok && l < c->num_levels; l++)
        ok = c->channel_mult[l] > 0 && c->num_res_blocks[l] > 0;
    if (!ok) snprintf(err, errlen, "unet: unsupported configuration");
    return ok ? 0 : -1;
}

/* Walks the levels as UNetModel.__init__ does, binding each block it builds. */
static int unet_bind(unet *u, model_loader *ld) {
    const unet_config *c = &u->cfg;
    int mc = c->model_channels, ch = mc, emb = u->time_embed_dim;
    int chans[UNET_MAX_BLOCKS], n_chans = 0, res_i = 0, out_i = 0;
    char p[MODEL_PATH_MAX];

    model_linear_bind(ld, &u->time_embed_0, "time_embed.0", mc, emb, 1);
    model_linear_bind(ld, &u->time_embed_2, "time_embed.2", emb, emb, 1);
    if (c->adm_in_channels > 0) {
        model_linear_bind(ld, &u->label_emb_0_0, "label_emb.0.0", c->adm_in_channels, emb, 1);
        model_linear_bind(ld, &u->label_emb_0_2, "label_emb.0.2", emb, emb, 1);
    }

    unet_block *b = &u->input_blocks[u->n_input++];
    b->has_conv = 1;
    model_conv_bind(ld, &b->conv, "input_blocks.0.0", c->in_channels, mc, 3);
    chans[n_chans++] = mc;
    for (int l = 0; l < c->num_levels; l++) {
        for (int r = 0; r < c->num_res_blocks[l]; r++) {
            int out = c->channel_mult[l] * mc, depth = c->transformer_depth[res_i++];
            b = &u->input_blocks[u->n_input];
            b->has_res = 1;
            model_path(p, "input_blocks.%d.0", u->n_input);
            resblock_bind(ld, &b->res, p, ch, out, emb);
            ch = out;
            if (depth > 0) {
                b->has_st = 1;
                model_path(p, "input_blocks.%d.1", u->n_input);
                if (spatial_transformer_bind(ld, &b->st, p, c, ch, depth)) return -1;
            }
            chans[n_chans++] = ch;
            u->n_input++;
        }
        if (l != c->num_levels - 1) {
            b = &u->input_blocks[u->n_input];
            b->has_down = 1;
            model_path(p, "input_blocks.%d.0.op", u->n_input);
            model_conv_bind(ld, &b->op, p, ch, ch, 3);
            chans[n_chans++] = ch;
            u->n_input++;
        }
    }

    if (c->transformer_depth_middle >= -1) {
        u->middle_block[0].has_res = 1;
        resblock_bind(ld, &u->middle_block[0].res, "middle_block.0", ch, ch, emb);
        u->n_middle = 1;
    }
    if (c->transformer_depth_middle >= 0) {
        u->middle_block[0].has_st = 1;
        if (spatial_transformer_bind(ld, &u->middle_block[0].st, "middle_block.1", c, ch,
                                     c->transformer_depth_middle))
            return -1;
        u->middle_block[1].has_res = 1;
        resblock_bind(ld, &u->middle_block[1].res, "middle_block.2", ch, ch, emb);
        u->n_middle = 2;
    }

    for (int l = c->num_levels - 1; l >= 0; l--) {
        for (int r = 0; r <= c->num_res_blocks[l]; r++) {
            int out = c->channel_mult[l] * mc;
            int depth = c->transformer_depth_output[c->n_transformer_depth_output - 1 - out_i];
            b = &u->output_blocks[u->n_output];
            b->has_res = 1;
            model_path(p, "output_blocks.%d.0", u->n_output);
            resblock_bind(ld, &b->res, p, ch + chans[--n_chans], out, emb);
            ch = out;
            if (depth > 0) {
                b->has_st = 1;
                model_path(p, "output_blocks.%d.1", u->n_output);
                if (spatial_transformer_bind(ld, &b->st, p, c, ch, depth)) return -1;
            }
            if (l > 0 && r == c->num_res_blocks[l]) {
                b->has_up = 1;
                model_path(p, "output_blocks.%d.%d.conv", u->n_output, 1 + b->has_st);
                model_conv_up2_bind(ld, &b->upsample, b->up2, p, ch);
            }
            u->n_output++;
            out_i++;
        }
    }

    model_norm_bind(ld, &u->out_0, "out.0", ch);
    model_conv_bind(ld, &u->out_2, "out.2", ch, c->out_channels, 3);
    return 0;
}

/* A model with no weights yet, for cfg. NULL with a message. */
static unet *unet_alloc(const unet_config *cfg, char *err, size_t errlen) {
    if (config_check(cfg, err, errlen)) return NULL;
    unet *u = calloc(1, sizeof(*u));
    if (!u) {
        snprintf(err, errlen, "unet: out of memory");
        return NULL;
    }
    u->cfg = *cfg;
    u->time_embed_dim = 4 * cfg->model_channels;
    return u;
}

unet *unet_load(const ckpt *ck, const char *prefix, const unet_config *cfg, char *err,
                size_t errlen) {
    unet *u = unet_alloc(cfg, err, errlen);
    if (!u) return NULL;
    model_loader ld;
    model_loader_init(&ld, ck, prefix, &u->params, err, errlen);
    int rc = unet_bind(u, &ld);
    u->act = arena_new();
    u->scratch = arena_new();
    if (rc || ld.failed || !u->act || !u->scratch) {
        if (!ld.failed) snprintf(err, errlen, "unet: out of memory");
        unet_free(u);
        return NULL;
    }
    return u;
}

int unet_keys(const char *prefix, const unet_config *cfg, synth_keys *keys, dtype dt,
              char *err, size_t errlen) {
    unet *u = unet_alloc(cfg, err, errlen);
    if (!u) return -1;
    model_loader ld;
    model_loader_init(&ld, NULL, prefix, &u->params, err, errlen);
    model_loader_record(&ld, keys, dt);
    int rc = unet_bind(u, &ld);
    if (rc && !ld.failed) snprintf(err, errlen, "unet: out of memory");
    unet_free(u);
    return rc || ld.failed ? -1 : 0;
}

static void block_free(unet_block *b) {
    free(b->st.transformer_blocks);
}

void unet_free(unet *u) {
    if (!u) return;
    for (int i = 0; i < u->n_input; i++) block_free(&u->input_blocks[i]);
    for (int i = 0; i < u->n_output; i++) block_free(&u->output_blocks[i]);
    block_free(&u->middle_block[0]);
    model_params_free(&u->params);
    arena_free(u->act);
    arena_free(u->scratch);
    free(u);
}

const unet_config *unet_get_config(const unet *u) { return &u->cfg; }
size_t unet_weight_bytes(const unet *u) { return model_params_bytes(&u->params); }
size_t unet_activation_peak(const unet *u) {
    return arena_peak(u->act) + arena_peak(u->scratch);
}

/* ---------------------------------------------------------------- forward */

void unet_timestep_embedding(const float *t, int n, int dim, float *emb) {
    int half = dim / 2;
    /* Every step in f32 as PyTorch does it; the scalar -ln(10000) is rounded to f32 first. */
    const float k = (float)-9.210340371976184;
    for (int b = 0; b < n; b++) {
        for (int i = 0; i < half; i++) {
            float freq = expf((k * (float)i) / (float)half);
            float arg = t[b] * freq;
            emb[(size_t)b * dim + i] = cosf(arg);
            emb[(size_t)b * dim + half + i] = sinf(arg);
        }
    }
}

/* x (B,H,W,C): in_layers, + emb_layers(SiLU(emb)) per channel, out_layers, + skip. */
static tensor *resblock_forward(const unet_resblock *r, const tensor *x, const tensor *emb_silu) {
    tensor *h = op_group_norm_nhwc(x, UNET_GROUPS, r->in_layers_0.weight, r->in_layers_0.bias,
                                   UNET_RES_EPS, ACT_SILU);
    h = op_conv2d_nhwc(h, r->in_layers_2.weight, r->in_layers_2.bias, 1, 1, 1, ACT_NONE, NULL);
    tensor *e = op_linear(emb_silu, r->emb_layers_1.weight, r->emb_layers_1.bias, ACT_NONE, NULL);
    h = op_group_norm_nhwc_shift(h, e, UNET_GROUPS, r->out_layers_0.weight,
                                 r->out_layers_0.bias, UNET_RES_EPS, ACT_SILU);
    const tensor *skip = x;
    if (r->skip_connection.weight)
        skip = op_conv2d_nhwc(x, r->skip_connection.weight, r->skip_connection.bias, 1, 0, 1,
                              ACT_NONE, NULL);
    return op_conv2d_nhwc(h, r->out_layers_3.weight, r->out_layers_3.bias, 1, 1, 1, ACT_NONE,
                          skip);
}

/* residual + to_out(softmax(q k^T / sqrt(d)) v), q from x, k and v from kv (x for self). */
static tensor *attention_forward(const unet_attention *a, const tensor *x, const tensor *kv,
                                 int heads, const tensor *residual) {
    tensor *q = op_linear(x, a->to_q.weight, NULL, ACT_NONE, NULL);
    tensor *k = op_linear(kv, a->to_k.weight, NULL, ACT_NONE, NULL);
    tensor *v = op_linear(kv, a->to_v.weight, NULL, ACT_NONE, NULL);
    tensor *o = op_attention(q, k, v, heads, NULL);
    return op_linear(o, a->to_out_0.weight, a->to_out_0.bias, ACT_NONE, residual);
}

/* x (B, L, C): self-attention, cross-attention over context, GEGLU feed-forward. */
static tensor *transformer_block_forward(const unet_transformer_block *b, tensor *x,
                                         const tensor *context, int heads) {
    tensor *n = op_layer_norm(x, b->norm1.weight, b->norm1.bias, UNET_LN_EPS);
    x = attention_forward(&b->attn1, n, n, heads, x);
    n = op_layer_norm(x, b->norm2.weight, b->norm2.bias, UNET_LN_EPS);
    x = attention_forward(&b->attn2, n, context, heads, x);
    n = op_layer_norm(x, b->norm3.weight, b->norm3.bias, UNET_LN_EPS);
    const model_layer *ff = b->ff_net_0_proj;
    tensor *value = op_linear(n, ff[0].weight, ff[0].bias, ACT_NONE, NULL);
    tensor *g = op_linear_gated(n, ff[1].weight, ff[1].bias, ACT_GELU, value);
    return op_linear(g, b->ff_net_2.weight, b->ff_net_2.bias, ACT_NONE, x);
}

/* x (B,H,W,C) + proj_out(blocks(proj_in(norm(x)))) on the tokens (B, H*W, C). */
static tensor *spatial_transformer_forward(const unet_spatial_transformer *st, const tensor *x,
                                           const tensor *context) {
    int64_t tokens[3] = {x->ne[0], x->ne[1] * x->ne[2], x->ne[3]};
    tensor *h = op_group_norm_nhwc(x, UNET_GROUPS, st->norm.weight, st->norm.bias, UNET_ST_EPS,
                                   ACT_NONE);
    if (h) tensor_reshape(h, 3, tokens);
    h = op_linear(h, st->proj_in.weight, st->proj_in.bias, ACT_NONE, NULL);
    for (int d = 0; d < st->depth; d++)
        h = transformer_block_forward(&st->transformer_blocks[d], h, context, st->heads);
    tensor residual = *x;   /* x seen as tokens: same storage */
    tensor_reshape(&residual, 3, tokens);
    h = op_linear(h, st->proj_out.weight, st->proj_out.bias, ACT_NONE, &residual);
    if (h) tensor_reshape(h, 4, x->ne);
    return h;
}

/* One TimestepEmbedSequential on x, or on concat(x, skip) for output blocks.
 * up_to: the tensor whose size the Upsample must reach (the next skip). */
static tensor *block_forward(const unet_block *b, const tensor *x, const tensor *skip,
                             const tensor *emb_silu, const tensor *context, const tensor *up_to) {
    const tensor *h = skip ? op_concat(x, skip, 3) : x;
    if (b->has_conv)
        h = op_conv2d_nhwc(h, b->conv.weight, b->conv.bias, 1, 1, 1, ACT_NONE, NULL);
    if (b->has_res) h = resblock_forward(&b->res, h, emb_silu);
    if (b->has_st) h = spatial_transformer_forward(&b->st, h, context);
    if (b->has_down) h = op_conv2d_nhwc(h, b->op.weight, b->op.bias, 2, 1, 1, ACT_NONE, NULL);
    if (h && b->has_up && b->up2[0] && up_to->ne[1] == 2 * h->ne[1] && up_to->ne[2] == 2 * h->ne[2]) {
        h = op_conv2d_up2_nhwc(h, b->up2, b->upsample.bias);
    } else if (b->has_up) {
        h = op_interpolate_nearest_nhwc(h, up_to->ne[1], up_to->ne[2]);
        h = op_conv2d_nhwc(h, b->upsample.weight, b->upsample.bias, 1, 1, 1, ACT_NONE, NULL);
    }
    return (tensor *)h;
}

/* Runs one block in the scratch arena; its result is kept in the call's arena. */
static tensor *unet_step(unet *u, const unet_block *b, const tensor *x, const tensor *skip,
                         const tensor *emb_silu, const tensor *context, const tensor *up_to) {
    arena *outer = model_scope_begin(u->scratch);
    tensor *h = block_forward(b, x, skip, emb_silu, context, up_to);
    return model_scope_end(outer, h);
}

static int check_inputs(const unet *u, const tensor *x, const tensor *ts, const tensor *ctx,
                        const tensor *y, const tensor *out, char *err, size_t errlen) {
    const unet_config *c = &u->cfg;
    int64_t b = x->ndim == 4 ? x->ne[0] : 0;
    if (x->dt != DT_F32 || x->ndim != 4 || x->ne[1] != c->in_channels || x->ne[2] < 1 ||
        x->ne[3] < 1) {
        snprintf(err, errlen, "unet: x must be f32 (B,%d,h,w)", c->in_channels);
        return -1;
    }
    if (ts->dt != DT_F32 || tensor_numel(ts) != b) {
        snprintf(err, errlen, "unet: timesteps must be f32 with %lld values", (long long)b);
        return -1;
    }
    if (ctx->dt != DT_F32 || ctx->ndim != 3 || ctx->ne[0] != b || ctx->ne[2] != c->context_dim) {
        snprintf(err, errlen, "unet: context must be f32 (%lld,L,%d)", (long long)b, c->context_dim);
        return -1;
    }
    if (c->adm_in_channels > 0 &&
        (!y || y->dt != DT_F32 || tensor_numel(y) != b * c->adm_in_channels)) {
        snprintf(err, errlen, "unet: this model needs y, f32 (%lld,%d)", (long long)b,
                 c->adm_in_channels);
        return -1;
    }
    if (out->dt != DT_F32 || out->ndim != 4 || out->ne[0] != b || out->ne[1] != c->out_channels ||
        out->ne[2] != x->ne[2] || out->ne[3] != x->ne[3]) {
        snprintf(err, errlen, "unet: out must be f32 (B,%d,h,w) like x", c->out_channels);
        return -1;
    }
    return 0;
}

/* emb = time_embed(timestep_embedding(t)) [+ label_emb(y)], returned after SiLU: every
 * ResBlock's emb_layers starts with it. */
static tensor *unet_embedding(unet *u, const tensor *ts, const tensor *y) {
    int64_t b = tensor_numel(ts), mc = u->cfg.model_channels;
    tensor *temb = arena_tensor(u->act, DT_F32, 2, (int64_t[]){b, mc});
    if (!temb) return NULL;
    unet_timestep_embedding(ts->data, (int)b, (int)mc, temb->data);
    tensor *emb = op_linear(temb, u->time_embed_0.weight, u->time_embed_0.bias, ACT_SILU, NULL);
    emb = op_linear(emb, u->time_embed_2.weight, u->time_embed_2.bias, ACT_NONE, NULL);
    if (u->cfg.adm_in_channels > 0) {
        tensor *l = op_linear(y, u->label_emb_0_0.weight, u->label_emb_0_0.bias, ACT_SILU, NULL);
        emb = op_linear(l, u->label_emb_0_2.weight, u->label_emb_0_2.bias, ACT_NONE, emb);
    }
    return op_act(emb, ACT_SILU);
}

int unet_forward(unet *u, const tensor *x, const tensor *timesteps, const tensor *context,
                 const tensor *y, tensor *out, char *err, size_t errlen) {
    if (check_inputs(u, x, timesteps, context, y, out, err, errlen)) return -1;
    arena *prev = arena_use(u->act);
    arena_reset(u->act);

    /* Ops pass a failed (NULL) input through; each block's result is checked, so a
     * failure (out of memory) surfaces as one error instead of a crash. */
    tensor *emb_silu = unet_embedding(u, timesteps, y);
    tensor *hs[UNET_MAX_BLOCKS];
    int n_hs = 0;
    const tensor *h = emb_silu ? op_permute(x, (int[]){0, 2, 3, 1}) : NULL;   /* NHWC */
    for (int i = 0; h && i < u->n_input; i++)
        h = hs[n_hs++] = unet_step(u, &u->input_blocks[i], h, NULL, emb_silu, context, NULL);
    for (int i = 0; h && i < u->n_middle; i++)
        h = unet_step(u, &u->middle_block[i], h, NULL, emb_silu, context, NULL);
    for (int i = 0; h && i < u->n_output; i++) {
        const tensor *skip = hs[--n_hs];
        h = unet_step(u, &u->output_blocks[i], h, skip, emb_silu, context,
                      n_hs > 0 ? hs[n_hs - 1] : NULL);
    }
    tensor *o = op_group_norm_nhwc(h, UNET_GROUPS, u->out_0.weight, u->out_0.bias,
                                   UNET_RES_EPS, ACT_SILU);
    o = op_conv2d_nhwc(o, u->out_2.weight, u->out_2.bias, 1, 1, 1, ACT_NONE, NULL);
    if (o && o->dt != DT_F32) o = op_cast(o, DT_F32);
    o = op_permute(o, (int[]){0, 3, 1, 2});   /* back to NCHW */
    if (o) memcpy(out->data, o->data, out->nbytes);
    else snprintf(err, errlen, "unet: a tensor op failed (out of memory?)");
    arena_use(prev);
    return o ? 0 : -1;
}
