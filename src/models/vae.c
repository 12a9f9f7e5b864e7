/* vae.c -- AutoencoderKL encoder and decoder, VAEEncode/VAEDecode pixel pipelines
 * (see vae.h; numerics: sd-numerics.md §3). Tiling lives in vae_tiled.c.
 *
 * Top to bottom: configuration, weights (fields named after checkpoint keys), binding,
 * modules (ResnetBlock, AttnBlock), encoder, decoder, then the pixel conventions.
 */
#include "models/vae.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/model.h"
#include "models/vae_private.h"
#include "tensor/arena.h"
#include "tensor/ops.h"

#define VAE_GROUPS 32
#define VAE_EPS 1e-6f          /* every GroupNorm of the VAE */
#define VAE_MAX_BLOCKS 3       /* ResnetBlocks per level: encoder 2, decoder 3 */

/* ---------------------------------------------------------------- configuration */

vae_config vae_config_sd(void) {
    vae_config c = {
        .ch = 128, .num_levels = 4, .ch_mult = {1, 2, 4, 4}, .num_res_blocks = 2,
        .z_channels = 4, .image_channels = 3,
    };
    return c;
}

/* ---------------------------------------------------------------- weights */

typedef struct vae_resnet {
    model_layer norm1;          /* GroupNorm (c_in) */
    model_layer conv1;          /* (c_out, c_in, 3, 3) */
    model_layer norm2;          /* GroupNorm (c_out) */
    model_layer conv2;          /* (c_out, c_out, 3, 3) */
    model_layer nin_shortcut;   /* (c_out, c_in, 1, 1); weight NULL when c_in == c_out */
} vae_resnet;

typedef struct vae_attn {
    model_layer norm;           /* GroupNorm (C) */
    model_layer q, k, v;        /* (C, C, 1, 1) */
    model_layer proj_out;       /* (C, C, 1, 1) */
} vae_attn;

typedef struct vae_mid {
    vae_resnet block_1;
    vae_attn attn_1;
    vae_resnet block_2;
} vae_mid;

/* encoder.down.{i} / decoder.up.{i} */
typedef struct vae_level {
    int n_block;
    vae_resnet block[VAE_MAX_BLOCKS];
    int has_sample;
    model_layer sample_conv;    /* downsample.conv (stride 2) / upsample.conv: (C, C, 3, 3) */
} vae_level;

typedef struct vae_encoder {
    model_layer conv_in;               /* (ch, 3, 3, 3) */
    vae_level down[VAE_MAX_LEVELS];
    vae_mid mid;
    model_layer norm_out;              /* GroupNorm (ch * ch_mult[-1]) */
    model_layer conv_out;              /* (2 * z, ch * ch_mult[-1], 3, 3): mean and logvar */
} vae_encoder;

typedef struct vae_decoder {
    model_layer conv_in;               /* (ch * ch_mult[-1], z, 3, 3) */
    vae_mid mid;
    vae_level up[VAE_MAX_LEVELS];
    model_layer norm_out;              /* GroupNorm (ch) */
    model_layer conv_out;              /* (3, ch, 3, 3) */
} vae_decoder;

struct vae {
    vae_config cfg;
    model_params params;
    vae_encoder encoder;
    model_layer quant_conv;            /* (2 * z, 2 * z, 1, 1) */
    model_layer post_quant_conv;       /* (z, z, 1, 1) */
    vae_decoder decoder;
    model_chain chain;
};

/* ---------------------------------------------------------------- binding */

static void resnet_bind(model_loader *ld, vae_resnet *r, const char *path, int c_in, int c_out) {
    char p[MODEL_PATH_MAX];
    model_path(p, "%s.norm1", path); model_norm_bind(ld, &r->norm1, p, c_in);
    model_path(p, "%s.conv1", path); model_conv_bind(ld, &r->conv1, p, c_in, c_out, 3);
    model_path(p, "%s.norm2", path); model_norm_bind(ld, &r->norm2, p, c_out);
    model_path(p, "%s.conv2", path); model_conv_bind(ld, &r->conv2, p, c_out, c_out, 3);
    if (c_in != c_out) {
        model_path(p, "%s.nin_shortcut", path);
        model_conv_bind(ld, &r->nin_shortcut, p, c_in, c_out, 1);
    }
}

static void mid_bind(model_loader *ld, vae_mid *m, const char *path, int c) {
    char p[MODEL_PATH_MAX];
    model_path(p, "%s.block_1", path);         resnet_bind(ld, &m->block_1, p, c, c);
    model_path(p, "%s.attn_1.norm", path);     model_norm_bind(ld, &m->attn_1.norm, p, c);
    model_path(p, "%s.attn_1.q", path);        model_conv_bind(ld, &m->attn_1.q, p, c, c, 1);
    model_path(p, "%s.attn_1.k", path);        model_conv_bind(ld, &m->attn_1.k, p, c, c, 1);
    model_path(p, "%s.attn_1.v", path);        model_conv_bind(ld, &m->attn_1.v, p, c, c, 1);
    model_path(p, "%s.attn_1.proj_out", path); model_conv_bind(ld, &m->attn_1.proj_out, p, c, c, 1);
    model_path(p, "%s.block_2", path);         resnet_bind(ld, &m->block_2, p, c, c);
}

static void encoder_bind(model_loader *ld, vae_encoder *e, const vae_config *c) {
    char p[MODEL_PATH_MAX];
    int block_in = c->ch;
    model_conv_bind(ld, &e->conv_in, "encoder.conv_in", c->image_channels, c->ch, 3);
    for (int i = 0; i < c->num_levels; i++) {
        vae_level *lv = &e->down[i];
        int block_out = c->ch * c->ch_mult[i];
        lv->n_block = c->num_res_blocks;
        for (int j = 0; j < lv->n_block; j++) {
            model_path(p, "encoder.down.%d.block.%d", i, j);
            resnet_bind(ld, &lv->block[j], p, block_in, block_out);
            block_in = block_out;
        }
        lv->has_sample = i != c->num_levels - 1;
        if (lv->has_sample) {
            model_path(p, "encoder.down.%d.downsample.conv", i);
            model_conv_bind(ld, &lv->sample_conv, p, block_in, block_in, 3);
        }
    }
    mid_bind(ld, &e->mid, "encoder.mid", block_in);
    model_norm_bind(ld, &e->norm_out, "encoder.norm_out", block_in);
    model_conv_bind(ld, &e->conv_out, "encoder.conv_out", block_in, 2 * c->z_channels, 3);
}

static void decoder_bind(model_loader *ld, vae_decoder *d, const vae_config *c) {
    char p[MODEL_PATH_MAX];
    int block_in = c->ch * c->ch_mult[c->num_levels - 1];
    model_conv_bind(ld, &d->conv_in, "decoder.conv_in", c->z_channels, block_in, 3);
    mid_bind(ld, &d->mid, "decoder.mid", block_in);
    for (int i = c->num_levels - 1; i >= 0; i--) {
        vae_level *lv = &d->up[i];
        int block_out = c->ch * c->ch_mult[i];
        lv->n_block = c->num_res_blocks + 1;
        for (int j = 0; j < lv->n_block; j++) {
            model_path(p, "decoder.up.%d.block.%d", i, j);
            resnet_bind(ld, &lv->block[j], p, block_in, block_out);
            block_in = block_out;
        }
        lv->has_sample = i != 0;
        if (lv->has_sample) {
            model_path(p, "decoder.up.%d.upsample.conv", i);
            model_conv_bind(ld, &lv->sample_conv, p, block_in, block_in, 3);
        }
    }
    model_norm_bind(ld, &d->norm_out, "decoder.norm_out", block_in);
    model_conv_bind(ld, &d->conv_out, "decoder.conv_out", block_in, c->image_channels, 3);
}

static int config_check(const vae_config *c, char *err, size_t errlen) {
    int ok = c->ch > 0 && c->ch % VAE_GROUPS == 0 && c->num_levels >= 1 &&
             c->num_levels <= VAE_MAX_LEVELS && c->num_res_blocks >= 1 &&
             c->num_res_blocks + 1 <= VAE_MAX_BLOCKS && c->z_channels > 0 &&
             c->image_channels == 3;
    for (int i = 0; ok && i < c->num_levels; i++) ok = c->ch_mult[i] > 0;
    if (!ok) snprintf(err, errlen, "vae: unsupported configuration");
    return ok ? 0 : -1;
}

static void vae_bind(model_loader *ld, vae *v, const vae_config *cfg) {
    int z2 = 2 * cfg->z_channels;
    encoder_bind(ld, &v->encoder, cfg);
    model_conv_bind(ld, &v->quant_conv, "quant_conv", z2, z2, 1);
    model_conv_bind(ld, &v->post_quant_conv, "post_quant_conv", cfg->z_channels,
                    cfg->z_channels, 1);
    decoder_bind(ld, &v->decoder, cfg);
}

vae *vae_load(const ckpt *ck, const char *prefix, const vae_config *cfg, char *err,
              size_t errlen) {
    if (config_check(cfg, err, errlen)) return NULL;
    vae *v = calloc(1, sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "vae: out of memory");
        return NULL;
    }
    v->cfg = *cfg;
    model_loader ld;
    model_loader_init(&ld, ck, prefix, &v->params, err, errlen);
    vae_bind(&ld, v, cfg);
    int rc = model_chain_init(&v->chain);
    if (ld.failed || rc) {
        if (!ld.failed) snprintf(err, errlen, "vae: out of memory");
        vae_free(v);
        return NULL;
    }
    return v;
}

int vae_keys(const char *prefix, const vae_config *cfg, synth_keys *keys, dtype dt,
             char *err, size_t errlen) {
    if (config_check(cfg, err, errlen)) return -1;
    vae v = {.cfg = *cfg};
    model_loader ld;
    model_loader_init(&ld, NULL, prefix, &v.params, err, errlen);
    model_loader_record(&ld, keys, dt);
    vae_bind(&ld, &v, cfg);
    return ld.failed ? -1 : 0;
}

void vae_free(vae *v) {
    if (!v) return;
    model_params_free(&v->params);
    model_chain_free(&v->chain);
    free(v);
}

size_t vae_weight_bytes(const vae *v) { return model_params_bytes(&v->params); }
size_t vae_activation_peak(const vae *v) { return model_chain_peak(&v->chain); }
int vae_downscale(const vae *v) { return 1 << (v->cfg.num_levels - 1); }
int vae_latent_channels(const vae *v) { return v->cfg.z_channels; }

/* ---------------------------------------------------------------- modules */

static tensor *conv(const model_layer *l, const tensor *x, int stride, int pad,
                    const tensor *residual) {
    return op_conv2d(x, l->weight, l->bias, stride, pad, 1, ACT_NONE, residual);
}

static tensor *norm_silu(const model_layer *l, const tensor *x) {
    return op_group_norm(x, VAE_GROUPS, l->weight, l->bias, VAE_EPS, ACT_SILU);
}

/* x' + conv2(SiLU(GN(conv1(SiLU(GN(x)))))), x' = x or nin_shortcut(x). */
static tensor *resnet_forward(const vae_resnet *r, const tensor *x) {
    tensor *h = conv(&r->conv1, norm_silu(&r->norm1, x), 1, 1, NULL);
    const tensor *skip = r->nin_shortcut.weight ? conv(&r->nin_shortcut, x, 1, 0, NULL) : x;
    return conv(&r->conv2, norm_silu(&r->norm2, h), 1, 1, skip);
}

/* x + proj_out(softmax(q k^T / sqrt(C)) v): one head over the h*w positions. */
static tensor *attn_forward(const vae_attn *a, const tensor *x) {
    tensor *n = op_group_norm(x, VAE_GROUPS, a->norm.weight, a->norm.bias, VAE_EPS, ACT_NONE);
    tensor *q = model_to_tokens(conv(&a->q, n, 1, 0, NULL));
    tensor *k = model_to_tokens(conv(&a->k, n, 1, 0, NULL));
    tensor *v = model_to_tokens(conv(&a->v, n, 1, 0, NULL));
    tensor *o = model_from_tokens(op_attention(q, k, v, 1, NULL), x);
    return conv(&a->proj_out, o, 1, 0, x);
}

static tensor *mid_forward(model_chain *c, const vae_mid *m, tensor *h) {
    h = MODEL_STEP(c, resnet_forward(&m->block_1, h));
    h = MODEL_STEP(c, attn_forward(&m->attn_1, h));
    return MODEL_STEP(c, resnet_forward(&m->block_2, h));
}

/* F.pad(x, (0,1,0,1)) then conv 3x3 stride 2 without padding. */
static tensor *downsample_forward(const model_layer *l, const tensor *x) {
    return conv(l, model_pad_bottom_right(x), 2, 0, NULL);
}

static tensor *upsample_forward(const model_layer *l, const tensor *x) {
    return conv(l, op_upsample_nearest2x(x), 1, 1, NULL);
}

/* ---------------------------------------------------------------- encoder, decoder */

/* x (B,3,H,W) in [-1,1] -> (B,z,H/8,W/8): the mean half of quant_conv(encoder(x)). */
static tensor *encoder_forward(vae *v, tensor *x) {
    const vae_encoder *e = &v->encoder;
    model_chain *c = &v->chain;
    tensor *h = MODEL_STEP(c, conv(&e->conv_in, x, 1, 1, NULL));
    for (int i = 0; i < v->cfg.num_levels; i++) {
        const vae_level *lv = &e->down[i];
        for (int j = 0; j < lv->n_block; j++) h = MODEL_STEP(c, resnet_forward(&lv->block[j], h));
        if (lv->has_sample) h = MODEL_STEP(c, downsample_forward(&lv->sample_conv, h));
    }
    h = mid_forward(c, &e->mid, h);
    return MODEL_STEP(c, op_slice(conv(&v->quant_conv,
                                       conv(&e->conv_out, norm_silu(&e->norm_out, h), 1, 1, NULL),
                                       1, 0, NULL),
                                  1, 0, v->cfg.z_channels));
}

/* z (B,z,h,w) -> (B,3,8h,8w), roughly [-1,1]. */
static tensor *decoder_forward(vae *v, const tensor *z) {
    const vae_decoder *d = &v->decoder;
    model_chain *c = &v->chain;
    tensor *h = MODEL_STEP(c, conv(&d->conv_in, conv(&v->post_quant_conv, z, 1, 0, NULL), 1, 1,
                                   NULL));
    h = mid_forward(c, &d->mid, h);
    for (int i = v->cfg.num_levels - 1; i >= 0; i--) {
        const vae_level *lv = &d->up[i];
        for (int j = 0; j < lv->n_block; j++) h = MODEL_STEP(c, resnet_forward(&lv->block[j], h));
        if (lv->has_sample) h = MODEL_STEP(c, upsample_forward(&lv->sample_conv, h));
    }
    return MODEL_STEP(c, conv(&d->conv_out, norm_silu(&d->norm_out, h), 1, 1, NULL));
}

/* ---------------------------------------------------------------- pixel pipelines */

tensor *vae_decode_raw(vae *v, const tensor *latent, char *err, size_t errlen) {
    if (latent->dt != DT_F32 || latent->ndim != 4 || latent->ne[1] != v->cfg.z_channels ||
        latent->ne[2] < 1 || latent->ne[3] < 1) {
        snprintf(err, errlen, "vae: latent must be f32 (B,%d,h,w)", v->cfg.z_channels);
        return NULL;
    }
    model_chain_reset(&v->chain);
    arena *prev = arena_use(v->chain.hold[0]);
    tensor *x = decoder_forward(v, latent);   /* NULL when an op failed */
    if (x && x->dt != DT_F32) x = op_cast(x, DT_F32);
    tensor *out = x ? tensor_keep(x) : NULL;
    arena_use(prev);
    if (!out) snprintf(err, errlen, "vae: a tensor op failed (out of memory?)");
    return out;
}

tensor *vae_image_from_raw(const tensor *raw) {
    int64_t b = raw->ne[0], c = raw->ne[1], h = raw->ne[2], w = raw->ne[3];
    tensor *img = tensor_new(DT_F32, 4, (int64_t[]){b, h, w, c});
    if (!img) return NULL;
    const float *src = raw->data;
    float *dst = img->data;
    for (int64_t n = 0; n < b; n++)
        for (int64_t k = 0; k < c; k++)
            for (int64_t i = 0; i < h * w; i++) {
                float x = (src[(n * c + k) * h * w + i] + 1.0f) / 2.0f;
                dst[(n * h * w + i) * c + k] = x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x;
            }
    return img;
}

tensor *vae_decode(vae *v, const tensor *latent, char *err, size_t errlen) {
    tensor *raw = vae_decode_raw(v, latent, err, errlen);
    if (!raw) return NULL;
    tensor *img = vae_image_from_raw(raw);
    tensor_free(raw);
    if (!img) snprintf(err, errlen, "vae: out of memory");
    return img;
}

int vae_check_image(const vae *v, const tensor *image, char *err, size_t errlen) {
    int f = vae_downscale(v);
    if (image->dt != DT_F32 || image->ndim != 4 || image->ne[3] < 3 || image->ne[1] < f ||
        image->ne[2] < f) {
        snprintf(err, errlen, "vae: image must be f32 (B,H,W,3) with H and W at least %d", f);
        return -1;
    }
    return 0;
}

static tensor *vae_pixels_in(const tensor *image, int64_t y0, int64_t x0, int64_t h, int64_t w,
                      arena *a) {
    int64_t b = image->ne[0], ih = image->ne[1], iw = image->ne[2], ic = image->ne[3];
    tensor *x = arena_tensor(a, DT_F32, 4, (int64_t[]){b, 3, h, w});
    if (!x) return NULL;
    const float *src = image->data;
    float *dst = x->data;
    for (int64_t n = 0; n < b; n++)
        for (int64_t k = 0; k < 3; k++)
            for (int64_t y = 0; y < h; y++)
                for (int64_t i = 0; i < w; i++)
                    dst[((n * 3 + k) * h + y) * w + i] =
                        src[((n * ih + y0 + y) * iw + x0 + i) * ic + k] * 2.0f - 1.0f;
    return x;
}

tensor *vae_encode_window(vae *v, const tensor *image, int64_t y0, int64_t x0, int64_t h,
                          int64_t w, char *err, size_t errlen) {
    model_chain_reset(&v->chain);
    arena *prev = arena_use(v->chain.hold[1]);
    /* The input lives in hold[1]; the chain's first step writes hold[0]. */
    tensor *x = vae_pixels_in(image, y0, x0, h, w, v->chain.hold[1]);
    tensor *z = encoder_forward(v, x);   /* NULL when an op failed */
    if (z && z->dt != DT_F32) z = op_cast(z, DT_F32);
    tensor *out = z ? tensor_keep(z) : NULL;
    arena_use(prev);
    if (!out) snprintf(err, errlen, "vae: a tensor op failed (out of memory?)");
    return out;
}

tensor *vae_encode(vae *v, const tensor *image, char *err, size_t errlen) {
    if (vae_check_image(v, image, err, errlen)) return NULL;
    int64_t f = vae_downscale(v), h = image->ne[1], w = image->ne[2];
    /* Crop each side to a multiple of 8, keeping the centre. */
    int64_t ch = h / f * f, cw = w / f * f;
    return vae_encode_window(v, image, (h % f) / 2, (w % f) / 2, ch, cw, err, errlen);
}
