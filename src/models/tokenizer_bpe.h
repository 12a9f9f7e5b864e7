/* tokenizer_bpe.h -- CLIP's byte-level BPE tokenizer (vocab.json + merges.txt).
 *
 * Reproduces what ComfyUI gets from transformers' CLIPTokenizer for one piece of text:
 * special-token strings split out first, then NFC + lowercase, the CLIP pre-tokenizer
 * regex ('s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+, whitespace dropped), and
 * per piece the UTF-8 bytes as byte symbols, "</w>" on the last one, merged by rank.
 * Start and end tokens are not added: ComfyUI strips them again.
 */
#ifndef CI_TOKENIZER_BPE_H
#define CI_TOKENIZER_BPE_H

#include <stddef.h>
#include <stdint.h>

typedef struct tokenizer tokenizer;

typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
} tok_ids;

/* Where the sd1 files are downloaded from by default (the model ComfyUI's copy comes from). */
#define TOKENIZER_SD1_URL "https://huggingface.co/openai/clip-vit-large-patch14/resolve/main"

/* Load DIR/vocab.json and DIR/merges.txt. NULL with a message in err on failure. */
tokenizer *tokenizer_load(const char *dir, char *err, size_t errlen);
void tokenizer_free(tokenizer *t);
/* Find and load a tokenizer folder named `name` (e.g. "sd1"), trying in order: override_dir
 * (--tokenizer-dir) if set, BASE/models/tokenizers/NAME, MODELS/tokenizers/NAME for each
 * extra models folder, then the build-time data folder. When none has it and download_url
 * is set (with base_dir), the files are fetched from download_url/FILE into
 * BASE/models/tokenizers/NAME, sha256-checked, and loaded from there. The error lists
 * every place and why a download did not happen or failed. */
tokenizer *tokenizer_find(const char *name, const char *override_dir, const char *base_dir,
                          const char *const *extra_model_dirs, size_t n_extra,
                          const char *download_url, char *err, size_t errlen);

int32_t tokenizer_start_id(const tokenizer *t);   /* <|startoftext|>, 49406 for CLIP */
int32_t tokenizer_end_id(const tokenizer *t);     /* <|endoftext|>, 49407 */
size_t tokenizer_vocab_size(const tokenizer *t);
/* The id of a vocabulary entry, or -1. */
int32_t tokenizer_lookup(const tokenizer *t, const char *word);

/* Append the ids of n code points of text to out. Returns 0, or -1 on OOM. */
int tokenizer_encode(const tokenizer *t, const uint32_t *text, size_t n, tok_ids *out);

int tok_ids_push(tok_ids *a, int32_t id);
void tok_ids_free(tok_ids *a);

#endif
