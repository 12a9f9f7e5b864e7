/* unet.h -- the diffusion UNet (ldm/openaimodel UNetModel) of SD1.x, SD2.x and SDXL.
 *
 * One piece of code for every configuration: the layout (channels per level, ResBlocks
 * per level, transformer depth per block, heads, context width, 1x1-conv or linear
 * proj_in/proj_out, optional class embedding) comes from a unet_config, which model
 * detection fills from the checkpoint's shapes; unet_config_sd15() is SD1.5's.
 *
 * The forward pass reads like the paper: timestep embedding, input blocks whose outputs
 * are pushed as skips, middle block, output blocks that each pop one skip and
 * concatenate it after h, then GroupNorm, SiLU and the last conv. Field names mirror
 * the checkpoint keys under `model.diffusion_model.`.
 */
#ifndef CI_UNET_H
#define CI_UNET_H

#include <stddef.h>

#include "io/ckpt.h"
#include "models/model.h"
#include "tensor/tensor.h"

#define UNET_MAX_LEVELS 8
#define UNET_MAX_BLOCKS 32

typedef struct unet_config {
    int in_channels;                   /* 4 (9 inpaint, 8 pix2pix) */
    int out_channels;                  /* 4 */
    int model_channels;                /* 320 */
    int num_levels;                    /* entries of channel_mult */
    int channel_mult[UNET_MAX_LEVELS]; /* SD1/2 [1,2,4,4], SDXL [1,2,4] */
    int num_res_blocks[UNET_MAX_LEVELS];
    int transformer_depth[UNET_MAX_BLOCKS];        /* per input ResBlock, in order */
    int transformer_depth_output[UNET_MAX_BLOCKS]; /* per output ResBlock, in order */
    int transformer_depth_middle;      /* >= 0: Res,ST,Res; -1: Res only; -2: no middle */
    int context_dim;                   /* 768 SD1, 1024 SD2, 2048 SDXL */
    int num_heads;                     /* SD1: 8 heads; -1 when num_head_channels is set */
    int num_head_channels;             /* SD2/SDXL: 64 channels per head; -1 otherwise */
    int use_linear_in_transformer;     /* proj_in/out are Linear (SD2/SDXL), not 1x1 conv */
    int adm_in_channels;               /* SDXL 2816 (label_emb); 0 when none */
} unet_config;

unet_config unet_config_sd15(void);

typedef struct unet unet;

/* Binds every `model.diffusion_model.*` tensor of ck for cfg. NULL with a message naming
 * the first missing or misshapen key. ck may be closed afterwards. */
unet *unet_load(const ckpt *ck, const unet_config *cfg, char *err, size_t errlen);
void unet_free(unet *u);
const unet_config *unet_get_config(const unet *u);
size_t unet_weight_bytes(const unet *u);
/* Most bytes of activations live at once in the last call (arena peaks). */
size_t unet_activation_peak(const unet *u);

/* One UNet evaluation: x (B,in_channels,h,w) f32, timesteps (B) f32 (integer values),
 * context (B,L,context_dim) f32, y (B,adm_in_channels) f32 or NULL when the model has no
 * class embedding. Writes the f32 output (eps or v) into out (B,out_channels,h,w).
 * Returns 0, or -1 with a message (shape mismatch). */
int unet_forward(unet *u, const tensor *x, const tensor *timesteps, const tensor *context,
                 const tensor *y, tensor *out, char *err, size_t errlen);

/* The sinusoidal embedding of §2.2 (cos first), dim even: emb[n, :dim] for t[n]. */
void unet_timestep_embedding(const float *t, int n, int dim, float *emb);

#endif
