/* clip_internal.h -- what the clip_*.c files share and nobody else needs. */
#ifndef CI_CLIP_INTERNAL_H
#define CI_CLIP_INTERNAL_H

#include "models/clip_model.h"
#include "tensor/arena.h"

struct clip_model {
    clip_config cfg;
    clip_weights w;
    tensor *mask;            /* causal mask (positions, positions), f32 */
    arena *arena;            /* activations of one forward pass */
    const tokenizer *tok;    /* borrowed */
    char **emb_dirs;         /* textual inversion folders */
    size_t n_emb_dirs;
};

/* malloc'd printf-style message (NULL only when out of memory). */
char *clip_errf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* tok_embedding_fn over the model's embedding folders (clip_embeddings.c). */
float *clip_find_embedding(void *model, const char *name, size_t *n, int *dim);

#endif
