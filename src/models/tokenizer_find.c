/* tokenizer_find.c -- where the tokenizer's vocab.json and merges.txt are looked for.
 *
 * The files are not ours to ship inside the binary (1.5 MB of data that ComfyUI keeps in
 * comfy/sd1_tokenizer/), so they are searched in the folders a user controls first, then
 * in the data folder `make install` fills. A miss names every folder tried and how to fix it.
 */
#include "models/tokenizer_bpe.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef CI_DATADIR
#define CI_DATADIR "/usr/local/share/comfyui-ipex"
#endif

static int has_vocab(const char *dir) {
    char path[4200];
    if (snprintf(path, sizeof path, "%s/vocab.json", dir) >= (int)sizeof path) return 0;
    return access(path, R_OK) == 0;
}

tokenizer *tokenizer_find(const char *name, const char *override_dir, const char *base_dir,
                          const char *const *extra_model_dirs, size_t n_extra,
                          char *err, size_t errlen) {
    char tried[2048] = "", dir[4096];
    size_t used = 0;
    for (size_t i = 0; i < n_extra + 3; i++) {
        if (i == 0 && !override_dir) continue;
        if (i == 1 && !base_dir) continue;
        int len;
        if (i == 0)
            len = snprintf(dir, sizeof dir, "%s", override_dir);
        else if (i == 1)
            len = snprintf(dir, sizeof dir, "%s/models/tokenizers/%s", base_dir, name);
        else if (i < n_extra + 2)
            len = snprintf(dir, sizeof dir, "%s/tokenizers/%s", extra_model_dirs[i - 2], name);
        else
            len = snprintf(dir, sizeof dir, "%s/tokenizers/%s", CI_DATADIR, name);
        if (len < (int)sizeof dir && has_vocab(dir)) return tokenizer_load(dir, err, errlen);
        if (used < sizeof tried)
            used += (size_t)snprintf(tried + used, sizeof tried - used, "%s%s",
                                     used ? ", " : "", dir);
    }
    snprintf(err, errlen,
             "no CLIP tokenizer vocabulary (vocab.json, merges.txt) found; looked in: %s. "
             "Copy both files from ComfyUI's comfy/sd1_tokenizer/ (or Hugging Face "
             "openai/clip-vit-large-patch14) into one of these folders, or pass "
             "--tokenizer-dir DIR", tried);
    return NULL;
}
