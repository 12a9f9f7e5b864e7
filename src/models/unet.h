/* unet.h -- the diffusion UNet (ldm/openaimodel UNetModel) of SD1.x, SD2.x and SDXL.
 *
 * One piece of code for every configuration: the layout (channels per level, ResBlocks
 * per level, transformer depth per block, heads, context width, 1x1-conv or linear
 * proj_in/proj_out, optional class embedding) comes from the unet_config that model
 * detection (io/detect.h) fills from the checkpoint's shapes.
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
#include "io/detect.h"
#include "io/synth.h"
#include "tensor/tensor.h"

typedef struct unet unet;

/* Binds every tensor under prefix ("model.diffusion_model.", or "" for a UNet-only file)
 * for cfg. NULL with a message naming the first missing or misshapen key. ck may be
 * closed afterwards. */
unet *unet_load(const ckpt *ck, const char *prefix, const unet_config *cfg, char *err,
                size_t errlen);
void unet_free(unet *u);
/* The checkpoint layout unet_load reads for cfg: appends every tensor it binds under
 * prefix, in binding order, as dtype dt. 0, or -1 with a message. */
int unet_keys(const char *prefix, const unet_config *cfg, synth_keys *keys, dtype dt,
              char *err, size_t errlen);
const unet_config *unet_get_config(const unet *u);
/* Bytes its weights hold now: bound copies, or the prepared copies that replaced them. */
size_t unet_weight_bytes(const unet *u);
/* Most bytes of activations live at once in the last call (arena peaks). */
size_t unet_activation_peak(const unet *u);

/* One UNet evaluation: x (B,in_channels,h,w) f32, timesteps (B) f32 (integer values),
 * context (B,L,context_dim) f32, y (B,adm_in_channels) f32 or NULL when the model has no
 * class embedding. Writes the f32 output (eps or v) into out (B,out_channels,h,w).
 * Returns 0, or -1 with a message (shape mismatch, failed op). */
int unet_forward(unet *u, const tensor *x, const tensor *timesteps, const tensor *context,
                 const tensor *y, tensor *out, char *err, size_t errlen);

/* The sinusoidal embedding of §2.2 (cos first), dim even: emb[n, :dim] for t[n]. */
void unet_timestep_embedding(const float *t, int n, int dim, float *emb);

#endif
