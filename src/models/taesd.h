/* taesd.h -- the Tiny AutoEncoder's decoder (madebyollin/taesd), ComfyUI's TAESD previews.
 *
 * A 2.4 M-parameter stand-in for the SD VAE decoder: 64-channel 3x3 convolutions, three
 * nearest 2x upsamples, and residual blocks, on the latent as the sampler sees it (SD1's
 * scaled latent; ComfyUI's TAESD for SD1.x uses scale 1 and shift 0). ComfyUI's preview
 * then maps the decoder's output d to a pixel as clamp(d, 0, 1): TAESD.decode returns
 * 2d - 1 and preview_to_image undoes exactly that.
 *
 * Weights come from models/vae_approx/taesd_decoder.{safetensors,pth}, whose keys are the
 * nn.Sequential indices of the decoder ("1.weight", "3.conv.0.weight", "7.weight", ...).
 */
#ifndef CI_TAESD_H
#define CI_TAESD_H

#include <stddef.h>

#include "io/ckpt.h"
#include "tensor/tensor.h"

typedef struct taesd taesd;

/* Binds the decoder of a latent with `latent_channels` channels (4 for SD1.x). */
taesd *taesd_load(const ckpt *ck, int latent_channels, char *err, size_t errlen);
void taesd_free(taesd *t);
/* latent (1, C, h, w) f32 -> out (1, 3, 8h, 8w) f32, the decoder's raw output.
 * 0, or -1 with err set. */
int taesd_decode(taesd *t, const tensor *latent, tensor *out, char *err, size_t errlen);

#endif
