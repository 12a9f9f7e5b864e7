/* nodes/sd/sd.h -- Stable Diffusion model nodes: what the files of the pack share.
 *
 * checkpoint.c  CheckpointLoaderSimple, CLIPSetLastLayer, VAELoader: MODEL, CLIP, VAE
 * encode.c      CLIPTextEncode: CONDITIONING
 * conditioning.c ConditioningZeroOut, ConditioningAverage
 * sample.c      KSampler, KSamplerAdvanced
 * vae_nodes.c   VAEDecode, VAEEncode
 * pack.c        registers them (after the core pack)
 *
 * One loaded checkpoint (sd_ckpt) owns the file, the tokenizer and the three models;
 * the MODEL, CLIP and VAE values are small handles that each hold a reference to it,
 * so the weights live as long as any value (cached outputs included) uses them.
 */
#ifndef CI_NODES_SD_H
#define CI_NODES_SD_H

#include <stdatomic.h>
#include "comfyui_ipex/node.h"
#include "comfyui_ipex/types.h"
#include "io/detect.h"
#include "models/clip_model.h"
#include "models/unet.h"
#include "models/vae.h"
#include "sampling/model_sampling.h"

#define SD_TYPE_MODEL "MODEL"
#define SD_TYPE_CLIP "CLIP"
#define SD_TYPE_VAE "VAE"
#define SD_TYPE_CONDITIONING "CONDITIONING"

typedef struct sd_ckpt {
    atomic_int refs;
    ckpt *file;
    tokenizer *tok;
    clip_model *clip;
    unet *unet;
    vae *vae;
    model_config config;
    model_sampling sampling;
} sd_ckpt;

/* MODEL, CLIP and VAE payloads: a reference to the checkpoint plus per-value settings. */
typedef struct sd_handle {
    sd_ckpt *ck;
    int clip_skip;      /* CLIP: CLIPSetLastLayer's value, 0 = the model's default */
} sd_handle;

/* CONDITIONING: ComfyUI's list of [cond, {"pooled_output": pooled}] entries. */
typedef struct sd_cond_entry {
    tensor *cond;       /* (1, tokens, dim) */
    tensor *pooled;     /* (1, dim) or NULL */
} sd_cond_entry;
typedef struct sd_conditioning {
    int n;
    sd_cond_entry *items;
} sd_conditioning;

extern const ci_node_def sd_checkpoint_loader_simple, sd_clip_set_last_layer, sd_clip_text_encode,
    sd_ksampler, sd_ksampler_advanced, sd_vae_decode, sd_vae_encode, sd_vae_loader,
    sd_conditioning_zero_out, sd_conditioning_average;

int sd_pack_init(const ci_host *host);

/* A handle value of `type` on ck (takes a new reference). */
int sd_set_handle(ci_call *c, int index, const char *type, sd_ckpt *ck, int clip_skip);
void sd_ckpt_unref(sd_ckpt *ck);
void sd_conditioning_free(void *p);

#endif
