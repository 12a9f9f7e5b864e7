/* clip_keys.c -- where a CLIP weight lives in a checkpoint, in either naming.
 *
 * Model code names weights as Hugging Face's CLIPTextModel does (the SD1.x layout:
 * "embeddings.token_embedding.weight", "encoder.layers.N.self_attn.q_proj.weight", ...).
 * OpenCLIP checkpoints (SD2's ViT-H, SDXL's bigG) store the same tensors as
 * "token_embedding.weight", "transformer.resblocks.N.attn.in_proj_weight" (q, k and v
 * stacked by rows), ... ComfyUI converts those names at load
 * (utils.clip_text_transformers_convert); here the HF name is mapped to the OpenCLIP key
 * and, for the fused projection, to the third of its rows that holds q, k or v.
 */
#include "models/clip_internal.h"

#include <stdio.h>
#include <string.h>

typedef struct { const char *hf, *oc; int third; } clip_rename;

static const clip_rename clip_global_names[] = {
    {"embeddings.token_embedding.weight", "token_embedding.weight", 0},
    {"embeddings.position_embedding.weight", "positional_embedding", 0},
    {"final_layer_norm.", "ln_final.", 0},
};

static const clip_rename clip_layer_names[] = {
    {"layer_norm1.", "ln_1.", 0},
    {"layer_norm2.", "ln_2.", 0},
    {"mlp.fc1.", "mlp.c_fc.", 0},
    {"mlp.fc2.", "mlp.c_proj.", 0},
    {"self_attn.out_proj.", "attn.out_proj.", 0},
    {"self_attn.q_proj.", "attn.in_proj_", 1},
    {"self_attn.k_proj.", "attn.in_proj_", 2},
    {"self_attn.v_proj.", "attn.in_proj_", 3},
};

static int has_key(const ckpt *c, const char *prefix, const char *name) {
    char key[CLIP_KEY_MAX];
    snprintf(key, sizeof key, "%s%s", prefix, name);
    return ckpt_get(c, key) != NULL;
}

void clip_source_init(clip_source *s, const ckpt *c, const char *prefix) {
    static const char level[] = "text_model.";
    size_t n = strlen(prefix), l = strlen(level);
    s->c = c;
    snprintf(s->prefix, sizeof s->prefix, "%s", prefix);
    if (!has_key(c, prefix, "embeddings.token_embedding.weight") && n >= l &&
        strcmp(prefix + n - l, level) == 0 && n - l < sizeof s->prefix) {
        s->prefix[n - l] = '\0';
        if (!has_key(c, s->prefix, "embeddings.token_embedding.weight"))
            snprintf(s->prefix, sizeof s->prefix, "%s", prefix);   /* report the asked one */
    }
    s->openclip = has_key(c, s->prefix, "token_embedding.weight");
}

static int clip_map(const clip_rename *t, size_t n, const char *name, char *out, size_t outlen,
                    int *third) {
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(t[i].hf);
        if (strncmp(name, t[i].hf, l) != 0) continue;
        snprintf(out, outlen, "%s%s", t[i].oc, name + l);
        *third = t[i].third;
        return 0;
    }
    return -1;
}

void clip_source_key(const clip_source *s, int layer, const char *name, char *key,
                     size_t keylen, int *third) {
    char mapped[CLIP_KEY_MAX];
    *third = 0;
    if (!s->openclip) {
        if (layer < 0) snprintf(key, keylen, "%s%s", s->prefix, name);
        else snprintf(key, keylen, "%sencoder.layers.%d.%s", s->prefix, layer, name);
        return;
    }
    if (layer < 0) {
        if (clip_map(clip_global_names, sizeof clip_global_names / sizeof *clip_global_names,
                     name, mapped, sizeof mapped, third))
            snprintf(mapped, sizeof mapped, "%s", name);
        snprintf(key, keylen, "%s%s", s->prefix, mapped);
    } else {
        if (clip_map(clip_layer_names, sizeof clip_layer_names / sizeof *clip_layer_names, name,
                     mapped, sizeof mapped, third))
            snprintf(mapped, sizeof mapped, "%s", name);
        snprintf(key, keylen, "%stransformer.resblocks.%d.%s", s->prefix, layer, mapped);
    }
}
