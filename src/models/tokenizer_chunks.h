/* tokenizer_chunks.h -- a weighted prompt as 77-token chunks, as ComfyUI's
 * SDTokenizer.tokenize_with_weights builds them.
 *
 * The prompt is parsed into weighted segments (prompt_weights.h); each segment is split at
 * " embedding:" / "\nembedding:", textual inversions become groups of vectors and the rest
 * groups of BPE ids. Groups are packed into chunks of START + 75 + END: a group of 8 or more
 * tokens is cut at the boundary, a shorter one that does not fit moves whole to the next
 * chunk, the current one being closed with END and padded. Word id k marks tokens of the
 * k-th group (1-based); start, end and padding have word id 0.
 */
#ifndef CI_TOKENIZER_CHUNKS_H
#define CI_TOKENIZER_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

#include "models/tokenizer_bpe.h"

#define TOK_CHUNK_LEN 77
#define TOK_MAX_WORD_LEN 8   /* groups at least this long may be cut between chunks */

typedef struct tok_token {
    int32_t id;        /* vocabulary id; -1 when the slot holds an embedding vector */
    int32_t embed;     /* row of tok_chunks.embeds for an embedding vector, else -1 */
    double weight;     /* exactly the double ComfyUI's parser computes */
    int32_t word_id;
} tok_token;

typedef struct tok_chunks {
    tok_token *tok;    /* (n_chunks, TOK_CHUNK_LEN) */
    size_t n_chunks;
    float *embeds;     /* (n_embeds, embed_dim) textual-inversion vectors */
    size_t n_embeds;
    int embed_dim;
} tok_chunks;

/* A textual inversion by name: its vectors as a malloc'd (n, dim) f32 array, or NULL when
 * there is no such embedding (or it does not fit the encoder). */
typedef float *(*tok_embedding_fn)(void *ud, const char *name, size_t *n, int *dim);

typedef struct tok_options {
    int32_t pad_id;                   /* 49407 for SD1's clip_l; 0 for clip_g and clip_h */
    tok_embedding_fn find_embedding;  /* NULL: every embedding is missing */
    void *ud;
} tok_options;

/* Returns 0, or -1 with a message in err (invalid UTF-8, nesting too deep, OOM,
 * embeddings of different widths). Missing embeddings are dropped with a warning. */
int tokenize_with_weights(const tokenizer *t, const char *prompt, const tok_options *o,
                          tok_chunks *out, char *err, size_t errlen);
void tok_chunks_free(tok_chunks *c);
/* Append empty-prompt chunks [START, END, PAD...] until there are n (ComfyUI pads the
 * shorter of SDXL's two token lists this way). Returns 0, or -1 on OOM. */
int tok_chunks_pad_to(tok_chunks *c, size_t n, const tokenizer *t, int32_t pad_id);

#endif
