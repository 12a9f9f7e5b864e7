/* comfyui_ipex/types.h -- payloads of the common value types, as ComfyUI shapes them.
 *
 *   "IMAGE"   tensor *, f32 (B, H, W, C), values 0..1, C = 3 (RGB) or 4
 *   "MASK"    tensor *, f32 (B, H, W), 1 = masked
 *   "LATENT"  ci_latent *
 *   "INT", "FLOAT", "STRING", "BOOLEAN" are JSON values (host->value_json)
 *   "MODEL", "CLIP", "VAE", "CONDITIONING", "CONTROL_NET", "UPSCALE_MODEL": payloads
 *   owned by the packs that make them (the models layer); only their type names are
 *   shared here.
 * Payloads are immutable once wrapped in a value.
 */
#ifndef COMFYUI_IPEX_TYPES_H
#define COMFYUI_IPEX_TYPES_H

#include <stdint.h>
#include "tensor/tensor.h"

#define CI_TYPE_IMAGE  "IMAGE"
#define CI_TYPE_MASK   "MASK"
#define CI_TYPE_LATENT "LATENT"

typedef struct ci_latent {
    tensor *samples;        /* (B, C, H/8, W/8) f32 */
    tensor *noise_mask;     /* (B or 1, 1, H', W') f32 as SetLatentNoiseMask shapes it, or NULL */
    int64_t *batch_index;   /* (n_batch_index) original batch positions (noise), or NULL */
    int n_batch_index;
    int downscale_ratio;    /* pixels per latent cell, 8 for SD */
} ci_latent;

#endif
