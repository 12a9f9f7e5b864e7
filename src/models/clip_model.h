/* clip_model.h -- the CLIP text transformer (ViT-L/14 "clip_l" for SD1.x) and ComfyUI's
 * CLIPTextEncode on top of it.
 *
 * Weights are bound by their checkpoint names under a prefix (SD1.x single-file
 * checkpoints: "cond_stage_model.transformer.text_model.") and widened once to f32 at
 * load, as ComfyUI's --fp32-text-enc does; every forward pass then runs on ops.h in the
 * engine's precision. clip_encode() is what the CLIPTextEncode node calls. A model's
 * activation arenas are its own: use one model from one thread at a time.
 */
#ifndef CI_CLIP_MODEL_H
#define CI_CLIP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "io/ckpt.h"
#include "io/synth.h"
#include "models/tokenizer_bpe.h"
#include "tensor/ops.h"

#define CLIP_SD1_PREFIX "cond_stage_model.transformer.text_model."

typedef struct clip_config {
    int dim;          /* width D: 768 for clip_l */
    int layers;       /* 12 */
    int heads;        /* D / 64 */
    int mlp;          /* 3072 */
    int vocab;        /* 49408 */
    int positions;    /* 77 */
    act_kind act;     /* quick_gelu for clip_l, gelu for the OpenCLIP encoders */
    int32_t pad_id;   /* padding token: 49407 for clip_l, 0 for the OpenCLIP encoders */
    int default_skip; /* clip skip without CLIPSetLastLayer: -1 (SD1 clip_l), -2 (SD2 clip_h) */
    int layer_norm_hidden;   /* a hidden layer's output goes through the final layer norm
                                (SD1, SD2: 1; SDXL: 0) */
} clip_config;

typedef struct clip_layer {              /* encoder.layers.N. */
    tensor *layer_norm1_w, *layer_norm1_b;   /* (dim) */
    tensor *q_proj_w, *q_proj_b;             /* self_attn.q_proj: (dim, dim), (dim) */
    tensor *k_proj_w, *k_proj_b;
    tensor *v_proj_w, *v_proj_b;
    tensor *out_proj_w, *out_proj_b;
    tensor *layer_norm2_w, *layer_norm2_b;   /* (dim) */
    tensor *fc1_w, *fc1_b;                   /* mlp.fc1: (mlp, dim), (mlp) */
    tensor *fc2_w, *fc2_b;                   /* mlp.fc2: (dim, mlp), (dim) */
} clip_layer;

typedef struct clip_weights {
    tensor *token_embedding;             /* embeddings.token_embedding.weight (vocab, dim) */
    tensor *position_embedding;          /* embeddings.position_embedding.weight (positions, dim) */
    clip_layer *layers;                  /* (layers) */
    tensor *final_layer_norm_w, *final_layer_norm_b;   /* (dim) */
    tensor *text_projection;             /* text_projection.weight (proj, dim), or NULL */
} clip_weights;

typedef struct clip_model clip_model;

/* Bind and widen the text model's weights under `prefix`, in Hugging Face naming (SD1:
 * CLIP_SD1_PREFIX) or OpenCLIP naming (SD2: "cond_stage_model.model."), whichever the
 * checkpoint has. The configuration comes from the shapes (width, depth, MLP size).
 * NULL on failure with *err set (malloc'd). The tokenizer is borrowed and must outlive
 * the model; the checkpoint need not (weights are copied). */
clip_model *clip_load(const ckpt *c, const char *prefix, const tokenizer *tok, char **err);
void clip_free(clip_model *m);
/* OpenAI's ViT-L/14 text model (SD1's clip_l), as clip_load detects it from the shapes. */
clip_config clip_config_l(void);
/* The checkpoint layout clip_load reads in Hugging Face naming under prefix for cfg:
 * appends every weight it binds, in binding order, as dtype dt. 0, or -1 with *err set
 * (malloc'd). */
int clip_keys(const char *prefix, const clip_config *cfg, synth_keys *keys, dtype dt, char **err);
const clip_config *clip_get_config(const clip_model *m);

/* Folders searched for textual inversions named in prompts ("embedding:NAME"); the array
 * is copied. */
int clip_set_embedding_dirs(clip_model *m, const char *const *dirs, size_t n);

/* The transformer on a batch of token rows: ids (batch, positions) with -1 marking slots
 * whose input vector comes from embeds (rows indexed by embed_idx). Returns in *final
 * the final-layer-norm output (batch, positions, dim) and, when hidden is not NULL, the
 * output of encoder layer `hidden_index` (0-based), through the final layer norm when
 * config.layer_norm_hidden is set.
 * Results are f32 tensors from the model's arenas, valid until the next call. */
int clip_forward(clip_model *m, const int32_t *ids, const int32_t *embed_idx,
                 const float *embeds, int batch, int hidden_index, tensor **final,
                 tensor **hidden, char **err);

/* CLIPTextEncode: tokenize with weights, encode every 77-token chunk, apply token weights
 * against the empty prompt, concatenate the chunks. clip_skip is CLIPSetLastLayer's value:
 * -1 the last layer, -2 the penultimate one, ... (beyond the depth: the last); 0 is the
 * model's default (config.default_skip).
 * *cond (1, 77*chunks, dim) and *pooled (1, dim, or the projection's width) are owned f32
 * tensors. */
int clip_encode(clip_model *m, const char *text, int clip_skip, tensor **cond,
                tensor **pooled, char **err);

#endif
