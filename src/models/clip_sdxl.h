/* clip_sdxl.h -- SDXL's two text encoders as ComfyUI combines them (sdxl_clip.py).
 *
 * clip_l (ViT-L, 768) and clip_g (OpenCLIP bigG, 1280) read the prompt each with its own
 * tokenizer settings (clip_g pads with 0), both take the penultimate layer by default and
 * neither passes it through the final layer norm; their outputs are concatenated on the
 * feature axis (768 + 1280 = 2048 wide). The pooled output is clip_g's final-layer-norm
 * output at the first END token times text_projection (1280).
 */
#ifndef CI_CLIP_SDXL_H
#define CI_CLIP_SDXL_H

#include "models/clip_model.h"

typedef struct clip_sdxl clip_sdxl;

/* clip_l under l_prefix ("conditioner.embedders.0.transformer.text_model."), clip_g under
 * g_prefix ("conditioner.embedders.1.model."), with clip_g's text_projection. The SDXL
 * refiner has clip_g alone ("conditioner.embedders.0.model."): l_prefix NULL, and cond is
 * clip_g's output (1280 wide). NULL on failure with *err set (malloc'd). The tokenizer is
 * borrowed. */
clip_sdxl *clip_sdxl_load(const ckpt *c, const char *l_prefix, const char *g_prefix,
                          const tokenizer *tok, char **err);
void clip_sdxl_free(clip_sdxl *x);
int clip_sdxl_set_embedding_dirs(clip_sdxl *x, const char *const *dirs, size_t n);

/* CLIPTextEncode on SDXL (text_l == text_g) and CLIPTextEncodeSDXL's text part: the shorter
 * token list is padded with empty-prompt chunks (text_l is unused by the refiner).
 * clip_skip as for clip_encode (0: -2). *cond (1, 77*chunks, 2048, or 1280 for the
 * refiner) and *pooled (1, 1280) are owned f32 tensors. */
int clip_sdxl_encode(clip_sdxl *x, const char *text_l, const char *text_g, int clip_skip,
                     tensor **cond, tensor **pooled, char **err);

#endif
