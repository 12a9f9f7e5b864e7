/* vae_private.h -- what vae_tiled.c needs from vae.c; not for callers outside models/. */
#ifndef CI_VAE_PRIVATE_H
#define CI_VAE_PRIVATE_H

#include "models/vae.h"

/* Runs the decoder on latent (B,z,h,w) and returns its raw f32 output (B,3,8h,8w), heap. */
tensor *vae_decode_raw(vae *v, const tensor *latent, char *err, size_t errlen);
/* (B,3,H,W) decoder output -> heap (B,H,W,3) image, clamp((x + 1) / 2, 0, 1). */
tensor *vae_image_from_raw(const tensor *raw);
/* 0 when image is f32 (B,H,W,C>=3) and at least one latent pixel big; else -1 and a message. */
int vae_check_image(const vae *v, const tensor *image, char *err, size_t errlen);
/* Encoder over the pixel window (y0, x0, h, w) of every image (h, w multiples of 8),
 * RGB mapped to x*2-1; heap latent (B,z,h/8,w/8). */
tensor *vae_encode_window(vae *v, const tensor *image, int64_t y0, int64_t x0, int64_t h,
                          int64_t w, char *err, size_t errlen);

#endif
