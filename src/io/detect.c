/* detect.c -- see detect.h. Follows ComfyUI's detect_unet_config and
 * supported_models matching; names below mirror the checkpoint keys they read.
 */
#include "io/detect.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>


typedef struct md {
    const ckpt *c;
    char *err;
    size_t errlen;
} md;

static int md_fail(md *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int md_fail(md *m, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->err, m->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int md_has_prefix(const md *m, const char *prefix) {
    return ckpt_next(m->c, prefix, 0) < ckpt_count(m->c);
}

/* How many of base+"0"+suffix, base+"1"+suffix, ... prefix some key (count_blocks). */
static int md_count_blocks(const md *m, const char *base, const char *suffix) {
    char p[256];
    int n = 0;
    for (;; n++) {
        snprintf(p, sizeof p, "%s%d%s", base, n, suffix);
        if (!md_has_prefix(m, p)) return n;
    }
}

/* Dimension `axis` of the tensor named by the format, or -1 with an error. */
static int64_t md_dim(md *m, int axis, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int64_t md_dim(md *m, int axis, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const tensor *t = ckpt_get(m->c, name);
    if (!t) return md_fail(m, "UNet layout incomplete: missing tensor '%s'", name);
    if (t->ndim <= axis) return md_fail(m, "tensor '%s' has %d dims, expected more", name, t->ndim);
    return t->ne[axis];
}

static int md_has(const md *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int md_has(const md *m, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return ckpt_get(m->c, name) != NULL;
}

/* Depth of the SpatialTransformer at <block>1. (0 when there is none). Like ComfyUI,
 * the first one in an input block fixes context_dim and use_linear_in_transformer
 * (`seen` is NULL for output blocks); every one must have the keys that tells. */
static int md_transformer_depth(md *m, const char *block, unet_config *u, int *seen) {
    char tp[256], pin[256];
    snprintf(tp, sizeof tp, "%s1.transformer_blocks.", block);
    if (!md_has_prefix(m, tp)) return 0;
    if (md_has(m, "%s1.time_stack.0.attn1.to_q.weight", block) ||
        md_has(m, "%s1.time_mix_blocks.0.attn1.to_q.weight", block))
        return md_fail(m, "video UNet (temporal attention blocks) is not supported");
    int64_t ctx = md_dim(m, 1, "%s0.attn2.to_k.weight", tp);
    if (ctx < 0) return -1;
    snprintf(pin, sizeof pin, "%s1.proj_in.weight", block);
    const tensor *t = ckpt_get(m->c, pin);
    if (!t) return md_fail(m, "UNet layout incomplete: missing tensor '%s'", pin);
    if (seen && !*seen) {
        u->context_dim = (int)ctx;
        u->use_linear_in_transformer = t->ndim == 2;
        *seen = 1;
    }
    return md_count_blocks(m, tp, "");
}

static int md_push(md *m, int *arr, int *n, int v) {
    if (*n >= MD_MAX_BLOCKS) return md_fail(m, "UNet has more than %d blocks", MD_MAX_BLOCKS);
    arr[(*n)++] = v;
    return 0;
}

/* One input block (and the output block that mirrors it). */
static int md_walk_block(md *m, const char *P, int k, int nin, unet_config *u, int *res,
                         int *mult, int *seen) {
    char in[128], out[128];
    snprintf(in, sizeof in, "%sinput_blocks.%d.", P, k);
    snprintf(out, sizeof out, "%soutput_blocks.%d.", P, nin - k - 1);
    int d;
    if (md_has(m, "%s0.op.weight", in)) {                   /* downsample: a new level */
        if (u->num_levels >= MD_MAX_LEVELS) return md_fail(m, "UNet has too many levels");
        u->num_res_blocks[u->num_levels] = *res;
        u->channel_mult[u->num_levels++] = *mult;
        *res = *mult = 0;
        if ((d = md_transformer_depth(m, out, u, NULL)) < 0) return -1;
        return md_push(m, u->transformer_depth_output, &u->n_transformer_depth_output, d);
    }
    if (md_has(m, "%s0.in_layers.0.weight", in)) {           /* ResBlock */
        (*res)++;
        int64_t ch = md_dim(m, 0, "%s0.out_layers.3.weight", in);
        if (ch < 0) return -1;
        *mult = (int)(ch / u->model_channels);
        if ((d = md_transformer_depth(m, in, u, seen)) < 0 ||
            md_push(m, u->transformer_depth, &u->n_transformer_depth, d))
            return -1;
    }
    if (md_has(m, "%s0.in_layers.0.weight", out)) {
        if ((d = md_transformer_depth(m, out, u, NULL)) < 0) return -1;
        return md_push(m, u->transformer_depth_output, &u->n_transformer_depth_output, d);
    }
    return 0;
}

static int md_unet(md *m, const char *P, unet_config *u) {
    memset(u, 0, sizeof *u);
    int64_t mc = md_dim(m, 0, "%sinput_blocks.0.0.weight", P);
    int64_t in = md_dim(m, 1, "%sinput_blocks.0.0.weight", P);
    if (mc <= 0 || in < 0) return mc == 0 ? md_fail(m, "UNet with 0 model channels") : -1;
    u->model_channels = (int)mc;
    u->in_channels = (int)in;
    u->out_channels = md_has(m, "%sout.2.weight", P) ? (int)md_dim(m, 0, "%sout.2.weight", P) : 4;
    if (md_has(m, "%slabel_emb.0.0.weight", P)) {
        int64_t adm = md_dim(m, 1, "%slabel_emb.0.0.weight", P);
        if (adm < 0) return -1;
        u->adm_in_channels = (int)adm;
    }
    char base[128];
    snprintf(base, sizeof base, "%sinput_blocks.", P);
    int nin = md_count_blocks(m, base, "."), res = 0, mult = 0, seen = 0;
    for (int k = 0; k < nin; k++) {
        char bp[160];
        snprintf(bp, sizeof bp, "%s%d.", base, k);
        if (!md_has_prefix(m, bp)) break;
        if (md_walk_block(m, P, k, nin, u, &res, &mult, &seen)) return -1;
    }
    if (u->num_levels >= MD_MAX_LEVELS) return md_fail(m, "UNet has too many levels");
    u->num_res_blocks[u->num_levels] = res;
    u->channel_mult[u->num_levels++] = mult;
    if (md_has(m, "%smiddle_block.1.proj_in.weight", P)) {
        snprintf(base, sizeof base, "%smiddle_block.1.transformer_blocks.", P);
        u->transformer_depth_middle = md_count_blocks(m, base, "");
    } else {
        u->transformer_depth_middle = md_has(m, "%smiddle_block.0.in_layers.0.weight", P) ? -1 : -2;
    }
    u->num_heads = u->num_head_channels = -1;
    return 0;
}

int model_detect_unet(const ckpt *c, const char *prefix, unet_config *out, char *err,
                      size_t errlen) {
    md m = {c, err, errlen};
    return md_unet(&m, prefix, out);
}

/* ---- families -------------------------------------------------------------------- */

typedef struct md_family {
    const char *name;
    model_family family;
    int in_channels;                   /* 0: any */
    int context_dim, model_channels, use_linear, adm_in_channels;
    int n_depth;                       /* 0: transformer_depth not part of the match */
    int depth[8];
} md_family;

/* ComfyUI's supported_models order, restricted to the families implemented here. */
static const md_family md_families[] = {
    {"SD15_instructpix2pix", MODEL_SD15, 8, 768, 320, 0, 0, 0, {0}},
    {"SD15", MODEL_SD15, 0, 768, 320, 0, 0, 0, {0}},
    {"SD20", MODEL_SD20, 0, 1024, 320, 1, 0, 0, {0}},
    {"SDXL_instructpix2pix", MODEL_SDXL, 8, 2048, 320, 1, 2816, 6, {0, 0, 2, 2, 10, 10}},
    {"SDXLRefiner", MODEL_SDXL_REFINER, 0, 1280, 384, 1, 2560, 8, {0, 0, 4, 4, 4, 4, 0, 0}},
    {"SDXL", MODEL_SDXL, 0, 2048, 320, 1, 2816, 6, {0, 0, 2, 2, 10, 10}},
};

static int md_matches(const md_family *f, const unet_config *u) {
    if ((f->in_channels && u->in_channels != f->in_channels) || u->context_dim != f->context_dim ||
        u->model_channels != f->model_channels || u->use_linear_in_transformer != f->use_linear ||
        u->adm_in_channels != f->adm_in_channels)
        return 0;
    if (!f->n_depth) return 1;
    if (u->n_transformer_depth != f->n_depth) return 0;
    return memcmp(u->transformer_depth, f->depth, sizeof(int) * (size_t)f->n_depth) == 0;
}

static void md_list(char *out, size_t len, const int *v, int n) {
    size_t k = (size_t)snprintf(out, len, "[");
    for (int i = 0; i < n && k < len; i++) k += (size_t)snprintf(out + k, len - k, "%s%d", i ? "," : "", v[i]);
    if (k < len) snprintf(out + k, len - k, "]");
}

static int md_unknown(md *m, const char *P, const unet_config *u) {
    char depth[128], mult[64];
    md_list(depth, sizeof depth, u->transformer_depth, u->n_transformer_depth);
    md_list(mult, sizeof mult, u->channel_mult, u->num_levels);
    return md_fail(m, "unknown model layout: UNet under '%s' with in_channels %d, model_channels %d, "
                      "channel_mult %s, transformer_depth %s, middle depth %d, context_dim %d, "
                      "linear proj %s, adm_in_channels %d (this build runs SD1.x, SD2.x, SDXL and "
                      "the SDXL refiner)", P, u->in_channels, u->model_channels, mult, depth,
                   u->transformer_depth_middle, u->context_dim,
                   u->use_linear_in_transformer ? "yes" : "no", u->adm_in_channels);
}

/* Population standard deviation of a 1-d tensor (SD2's v-prediction test). */
static double md_std(const tensor *t) {
    tensor *f = tensor_to_f32(t);
    if (!f) return 0;
    int64_t n = t->ne[0];
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = ((const float *)f->data)[i];
        s += v;
        s2 += v * v;
    }
    tensor_free(f);
    double mean = n ? s / (double)n : 0;
    return n ? sqrt(fmax(s2 / (double)n - mean * mean, 0)) : 0;
}

static prediction md_prediction(const md *m, const model_config *mc, int *zsnr) {
    *zsnr = 0;
    if (mc->family == MODEL_SD20 && mc->unet.in_channels == 4) {
        char k[160];
        snprintf(k, sizeof k, "%soutput_blocks.11.1.transformer_blocks.0.norm1.bias", mc->unet_prefix);
        const tensor *t = ckpt_get(m->c, k);
        return t && t->ndim == 1 && md_std(t) > 0.09 ? PRED_V : PRED_EPS;
    }
    if (mc->family != MODEL_SDXL) return PRED_EPS;
    if (ckpt_get(m->c, "edm_mean") && ckpt_get(m->c, "edm_std")) return PRED_EDM;
    if (ckpt_get(m->c, "edm_vpred.sigma_max")) return PRED_V_EDM;
    if (ckpt_get(m->c, "v_pred")) { *zsnr = ckpt_get(m->c, "ztsnr") != NULL; return PRED_V; }
    return PRED_EPS;
}

/* Copies the first candidate prefix under which `probe` exists. */
static void md_find_prefix(const md *m, char *out, size_t len, const char *probe,
                           const char *const *candidates, int n) {
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        char k[256];
        snprintf(k, sizeof k, "%s%s", candidates[i], probe);
        if (ckpt_get(m->c, k)) { snprintf(out, len, "%s", candidates[i]); return; }
    }
}

static void md_components(const md *m, model_config *mc) {
    static const char *vae[] = {"first_stage_model."};
    static const char *sd1_clip[] = {"cond_stage_model.transformer.text_model.",
                                     "cond_stage_model.transformer."};
    static const char *sd2_clip[] = {"cond_stage_model.model.", "conditioner.embedders.0.model."};
    static const char *xl_l[] = {"conditioner.embedders.0.transformer.text_model."};
    static const char *xl_g[] = {"conditioner.embedders.1.model."};
    static const char *ref_g[] = {"conditioner.embedders.0.model."};
    const char *hf = "embeddings.token_embedding.weight", *oc = "token_embedding.weight";
    md_find_prefix(m, mc->vae_prefix, sizeof mc->vae_prefix, "decoder.conv_in.weight", vae, 1);
    switch (mc->family) {
    case MODEL_SD15: md_find_prefix(m, mc->clip_l_prefix, sizeof mc->clip_l_prefix, hf, sd1_clip, 2); break;
    case MODEL_SD20: md_find_prefix(m, mc->clip_h_prefix, sizeof mc->clip_h_prefix, oc, sd2_clip, 2); break;
    case MODEL_SDXL:
        md_find_prefix(m, mc->clip_l_prefix, sizeof mc->clip_l_prefix, hf, xl_l, 1);
        md_find_prefix(m, mc->clip_g_prefix, sizeof mc->clip_g_prefix, oc, xl_g, 1);
        break;
    case MODEL_SDXL_REFINER: md_find_prefix(m, mc->clip_g_prefix, sizeof mc->clip_g_prefix, oc, ref_g, 1); break;
    }
}

/* unet_prefix_from_state_dict, plus UNet-only files (keys at the top level). */
static const char *md_unet_prefix(const md *m) {
    static const char *candidates[] = {"model.diffusion_model.", "model.model.", "net."};
    const char *best = NULL;
    size_t most = 0;
    for (int i = 0; i < 3; i++) {
        size_t n = ckpt_count_prefix(m->c, candidates[i]);
        if (n > most) { most = n; best = candidates[i]; }
    }
    return most > 5 ? best : ckpt_get(m->c, "input_blocks.0.0.weight") ? "" : NULL;
}

/* Layouts recognised only to name them in the error. */
static int md_other_architecture(md *m, const char *P) {
    static const struct { const char *key, *name; } sig[] = {
        {"joint_blocks.0.context_block.attn.qkv.weight", "SD3 (MMDiT)"},
        {"double_blocks.0.img_attn.norm.key_norm.scale", "Flux"},
        {"clf.1.weight", "Stable Cascade"},
        {"conv_in.weight", "a diffusers-format UNet (convert it to the original layout)"},
        {"down_blocks.0.resnets.0.conv1.weight", "a diffusers-format UNet (convert it to the original layout)"},
    };
    for (size_t i = 0; i < sizeof sig / sizeof *sig; i++)
        if (md_has(m, "%s%s", P ? P : "", sig[i].key) || md_has(m, "%s", sig[i].key))
            return md_fail(m, "unsupported model: %s", sig[i].name);
    if (!P)
        return md_fail(m, "no UNet found: no 'input_blocks.0.0.weight' under model.diffusion_model., "
                          "model.model., net. or the top level (%zu tensors, first '%s')",
                       ckpt_count(m->c), ckpt_count(m->c) ? ckpt_key(m->c, 0) : "-");
    return md_fail(m, "no UNet found under '%s': '%sinput_blocks.0.0.weight' is missing", P, P);
}

int model_detect(const ckpt *c, model_config *out, char *err, size_t errlen) {
    md m = {c, err, errlen};
    memset(out, 0, sizeof *out);
    const char *P = md_unet_prefix(&m);
    if (!P || !md_has(&m, "%sinput_blocks.0.0.weight", P)) return md_other_architecture(&m, P);
    if (md_unet(&m, P, &out->unet)) return -1;
    const md_family *f = NULL;
    for (size_t i = 0; !f && i < sizeof md_families / sizeof *md_families; i++)
        if (md_matches(&md_families[i], &out->unet)) f = &md_families[i];
    if (!f) return md_unknown(&m, P, &out->unet);
    out->family = f->family;
    out->name = f->name;
    snprintf(out->unet_prefix, sizeof out->unet_prefix, "%s", P);
    out->unet.num_heads = f->family == MODEL_SD15 ? 8 : -1;
    out->unet.num_head_channels = f->family == MODEL_SD15 ? -1 : 64;
    out->inpaint = out->unet.in_channels == 9;
    out->pix2pix = out->unet.in_channels == 8;
    out->latent_scale = f->family == MODEL_SDXL || f->family == MODEL_SDXL_REFINER ? 0.13025f : 0.18215f;
    out->pred = md_prediction(&m, out, &out->zsnr);
    md_components(&m, out);
    return 0;
}

const char *prediction_name(prediction p) {
    switch (p) {
    case PRED_V: return "v";
    case PRED_EDM: return "edm";
    case PRED_V_EDM: return "v_edm";
    default: return "eps";
    }
}
