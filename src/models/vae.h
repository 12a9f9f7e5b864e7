/* vae.h -- AutoencoderKL ("kl-f8"), the VAE of SD1.x, SD2.x and SDXL.
 *
 * The encoder maps an image to the mean of the latent distribution (ComfyUI takes the
 * mode, no sampling); the decoder maps a raw latent (already divided by the scale factor)
 * back to pixels. Both pipelines include ComfyUI's pixel conventions: images are NHWC
 * f32 in [0,1]; encode crops each side to a multiple of 8 around the centre and maps to
 * [-1,1]; decode returns clamp((x+1)/2, 0, 1).
 *
 * The tiled variants are ComfyUI's VAEDecodeTiled / VAEEncodeTiled: three passes with
 * tiles of (tile_y*2, tile_x/2), (tile_y/2, tile_x*2) and (tile_y, tile_x), each blended
 * with linear feather masks over the overlap, averaged; memory is bounded by one tile.
 * Field names mirror the checkpoint keys under `first_stage_model.` (or none, for a
 * standalone VAE file).
 */
#ifndef CI_VAE_H
#define CI_VAE_H

#include <stddef.h>

#include "io/ckpt.h"
#include "io/synth.h"
#include "tensor/tensor.h"

#define VAE_MAX_LEVELS 6

typedef struct vae_config {
    int ch;                        /* 128 */
    int num_levels;                /* 4 */
    int ch_mult[VAE_MAX_LEVELS];   /* [1,2,4,4] */
    int num_res_blocks;            /* 2 (the decoder has one more per level) */
    int z_channels;                /* 4 */
    int image_channels;            /* 3 */
} vae_config;

vae_config vae_config_sd(void);

typedef struct vae vae;

/* prefix: "first_stage_model." inside a checkpoint, "" for a standalone VAE file. */
vae *vae_load(const ckpt *ck, const char *prefix, const vae_config *cfg, char *err, size_t errlen);
void vae_free(vae *v);
/* The checkpoint layout vae_load reads for cfg: appends every tensor it binds under
 * prefix, in binding order, as dtype dt. 0, or -1 with a message. */
int vae_keys(const char *prefix, const vae_config *cfg, synth_keys *keys, dtype dt,
             char *err, size_t errlen);
/* Bytes its weights hold now: bound copies, or the prepared copies that replaced them. */
size_t vae_weight_bytes(const vae *v);
size_t vae_activation_peak(const vae *v);
int vae_downscale(const vae *v);        /* 8 for kl-f8 */
int vae_latent_channels(const vae *v);  /* 4 */

/* latent (B,z,h,w) f32 -> heap image (B,8h,8w,3) f32 in [0,1]. NULL with a message. */
tensor *vae_decode(vae *v, const tensor *latent, char *err, size_t errlen);
/* image (B,H,W,C>=3) f32 in [0,1] -> heap latent (B,z,H/8,W/8), unscaled. */
tensor *vae_encode(vae *v, const tensor *image, char *err, size_t errlen);

/* Tile and overlap sizes in latent pixels (VAEDecodeTiled passes tile_size/8, overlap/8). */
tensor *vae_decode_tiled(vae *v, const tensor *latent, int tile_x, int tile_y, int overlap,
                         char *err, size_t errlen);
/* Tile and overlap sizes in image pixels (ComfyUI's default 512, 512, 64). */
tensor *vae_encode_tiled(vae *v, const tensor *image, int tile_x, int tile_y, int overlap,
                         char *err, size_t errlen);

#endif
