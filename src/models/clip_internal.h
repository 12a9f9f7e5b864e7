/* clip_internal.h -- what the clip_*.c files share and nobody else needs. */
#ifndef CI_CLIP_INTERNAL_H
#define CI_CLIP_INTERNAL_H

#include "models/clip_model.h"
#include "models/tokenizer_chunks.h"
#include "tensor/arena.h"

struct clip_model {
    clip_config cfg;
    clip_weights w;
    tensor *mask;            /* causal mask (positions, positions), f32 */
    /* Activations: `io` holds the embeddings, the kept hidden state and the outputs of one
     * forward pass; each layer runs in `scratch` and its output is copied to hold[l % 2],
     * so only one layer's intermediates are alive at a time. */
    arena *io, *scratch, *hold[2];
    const tokenizer *tok;    /* borrowed */
    char **emb_dirs;         /* textual inversion folders */
    size_t n_emb_dirs;
};

/* Where the weights are: a checkpoint, the prefix of the text model, and its naming
 * (clip_keys.c): Hugging Face CLIPTextModel names, or OpenCLIP's. */
#define CLIP_KEY_MAX 256
typedef struct clip_source {
    const ckpt *c;
    char prefix[CLIP_KEY_MAX / 2];
    int openclip;          /* prefix + "token_embedding.weight" exists */
} clip_source;

/* Older SD1.x checkpoints lack the "text_model." level ("cond_stage_model.transformer.
 * embeddings..."); ComfyUI renames those keys, here the prefix falls back to match. */
void clip_source_init(clip_source *s, const ckpt *c, const char *prefix);
/* The checkpoint key of HF-named weight `name` in encoder layer `layer` (-1: outside the
 * layers). *third is 0, or 1/2/3 when the key is OpenCLIP's fused in_proj and the weight
 * is its q/k/v third (rows). */
void clip_source_key(const clip_source *s, int layer, const char *name, char *key,
                     size_t keylen, int *third);

/* malloc'd printf-style message (NULL only when out of memory). */
char *clip_errf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The two halves of clip_encode (clip_encode.c): the prompt as chunks with this model's
 * padding and textual inversions, and the encoding of such chunks. */
int clip_tokenize(clip_model *m, const char *text, tok_chunks *ch, char **err);
int clip_encode_tokens(clip_model *m, const tok_chunks *ch, int clip_skip, tensor **cond,
                       tensor **pooled, char **err);

/* tok_embedding_fn over the model's embedding folders (clip_embeddings.c). */
float *clip_find_embedding(void *model, const char *name, size_t *n, int *dim);

#endif
