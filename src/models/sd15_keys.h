/* sd15_keys.h -- the tensor layout of an SD1.5 checkpoint, from our own model code.
 *
 * A real SD1.5 file (the original LDM layout, `*-pruned-emaonly-fp16`) holds the UNet
 * under "model.diffusion_model.", the VAE under "first_stage_model." and the CLIP text
 * model under "cond_stage_model.transformer.text_model.", all F16. The list is not kept
 * as data: unet_keys, vae_keys and clip_keys walk the same binding code that loads a
 * checkpoint, with the SD1.5 configuration, so the layout can never drift from what the
 * loaders read. With the seed below it defines the synthetic SD1.5 checkpoint
 * (shared/spec/synthetic-checkpoint.md) byte for byte, without any file from outside.
 */
#ifndef CI_MODELS_SD15_KEYS_H
#define CI_MODELS_SD15_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "io/detect.h"
#include "io/synth.h"

/* The seed the reference fixtures were computed with (shared/fixtures/sd15). */
#define SD15_SYNTH_SEED 20261126ULL

/* The UNet configuration model detection finds in an SD1.5 checkpoint. */
unet_config sd15_unet_config(void);

/* Fills out (its old contents are not freed) with every tensor of an SD1.5 checkpoint, in the order the
 * safetensors library writes them. 0, or -1 with a message. */
int sd15_keys(synth_keys *out, char *err, size_t errlen);

#endif
