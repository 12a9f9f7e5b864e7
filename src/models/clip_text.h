/* clip_text.h -- the text encoder(s) of a detected checkpoint behind one handle.
 *
 * What CheckpointLoaderSimple's CLIP output and CLIPTextEncode need, whatever the family
 * io/detect.h found: SD1.x's clip_l, SD2.x's clip_h, SDXL's clip_l + clip_g, the SDXL
 * refiner's clip_g. clip_skip follows CLIPSetLastLayer (0: the family's default).
 */
#ifndef CI_CLIP_TEXT_H
#define CI_CLIP_TEXT_H

#include "io/detect.h"
#include "models/clip_model.h"

typedef struct clip_text clip_text;

/* NULL on failure with *err set (malloc'd), also when the file has no text encoder. */
clip_text *clip_text_load(const ckpt *c, const model_config *mc, const tokenizer *tok,
                          char **err);
void clip_text_free(clip_text *t);
int clip_text_set_embedding_dirs(clip_text *t, const char *const *dirs, size_t n);

/* CLIPTextEncode; text_g is CLIPTextEncodeSDXL's second prompt (NULL: the same text). It is
 * ignored by the single-encoder families. *cond (1, 77*chunks, context width) and *pooled
 * are owned f32 tensors. */
int clip_text_encode(clip_text *t, const char *text, const char *text_g, int clip_skip,
                     tensor **cond, tensor **pooled, char **err);

#endif
