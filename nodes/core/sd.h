/* nodes/core/sd.h -- the payloads of MODEL, CLIP, VAE and CONDITIONING, shared by the
 * model nodes of the core pack.
 *
 * A checkpoint loads once into an sd_checkpoint kept in the model cache
 * (models/model_cache.h); MODEL, CLIP and VAE values are small handles holding a
 * reference to it, so a cached node output keeps its weights alive while the cache is
 * free to forget them. CLIPSetLastLayer makes a new CLIP handle on the same weights.
 *
 * CONDITIONING is ComfyUI's list of [cond, {"pooled_output", "area", "strength"}]:
 * one sd_cond_entry each, tensors owned by the list (immutable once wrapped).
 *
 * model_nodes.c  CheckpointLoaderSimple, VAELoader, CLIPSetLastLayer
 * conditioning.c CLIPTextEncode, ConditioningCombine/SetArea/Average/ZeroOut
 * sampler_nodes.c KSampler, KSamplerAdvanced (guidance with areas and strengths)
 * vae_nodes.c    VAEDecode, VAEEncode, their tiled forms, VAEEncodeForInpaint
 * preview.c      progress and latent previews between sampler steps
 */
#ifndef CI_NODES_CORE_SD_H
#define CI_NODES_CORE_SD_H

#include "core.h"
#include "io/detect.h"
#include "models/clip_model.h"
#include "models/model_cache.h"
#include "models/unet.h"
#include "models/vae.h"
#include "sampling/model_sampling.h"

#define SD_TYPE_MODEL "MODEL"
#define SD_TYPE_CLIP "CLIP"
#define SD_TYPE_VAE "VAE"
#define SD_TYPE_COND "CONDITIONING"

typedef struct sd_checkpoint {
    model_config cfg;          /* detection result (family, prefixes, UNet layout) */
    model_sampling ms;         /* its noise schedule and latent scale */
    unet *unet;                /* NULL for a VAE-only entry */
    tokenizer *tok;
    clip_model *clip;
    vae *vae;
} sd_checkpoint;

typedef struct sd_handle {     /* MODEL, CLIP, VAE */
    mc_obj *owner;             /* holds an sd_checkpoint */
    int clip_skip;             /* CLIP: CLIPSetLastLayer's value, 0 = the model's default */
} sd_handle;

static inline sd_checkpoint *sd_of(const sd_handle *h) { return mc_payload(h->owner); }
/* Bytes its UNet and VAE weights hold now (the model cache's measure of an entry). */
size_t sd_checkpoint_bytes(const sd_checkpoint *ck);
/* A handle on owner (takes a new reference) as output `index`. */
int sd_set_handle(ci_call *c, int index, const char *type, mc_obj *owner, int clip_skip);
void sd_handle_free(void *handle);

typedef struct sd_cond_entry {
    tensor *cond;              /* (1, L, dim) */
    tensor *pooled;            /* (1, dim) or NULL */
    int has_area;              /* ConditioningSetArea */
    int64_t area[4];           /* latent cells: h, w, y, x */
    float strength;            /* 1.0 unless set */
} sd_cond_entry;

typedef struct sd_cond {
    int n;
    sd_cond_entry *e;          /* (n) */
} sd_cond;

sd_cond *sd_cond_new(int n);   /* n zeroed entries, strength 1 */
void sd_cond_free(void *cond);
/* A copy of entry e's settings into d, with fresh copies of its tensors; 0 or -1. */
int sd_cond_entry_copy(sd_cond_entry *d, const sd_cond_entry *e);
int sd_set_cond(ci_call *c, int index, sd_cond *cond);   /* frees cond on failure */

/* Preview and progress between sampler steps (preview.c). */
typedef struct sd_step_ctx {
    ci_call *call;
    int64_t batch, h, w;       /* latent (batch, 4, h, w) */
    int picked;                /* zero at the start of a run: the previewer is chosen */
    struct taesd *tae;         /* on its first step (NULL: latent2rgb) */
} sd_step_ctx;
int sd_on_step(void *ctx, int step, int total, const float *x, const float *denoised);

extern const ci_node_def core_checkpoint_loader_simple, core_vae_loader, core_clip_set_last_layer,
    core_clip_text_encode, core_conditioning_combine, core_conditioning_set_area,
    core_conditioning_average, core_conditioning_zero_out, core_ksampler, core_ksampler_advanced,
    core_vae_decode, core_vae_encode, core_vae_decode_tiled, core_vae_encode_tiled,
    core_vae_encode_for_inpaint;

/* POST /free unload_models: forget loaded checkpoints. */
void sd_on_free(int free_memory);

#endif
