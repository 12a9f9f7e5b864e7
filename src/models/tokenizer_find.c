/* tokenizer_find.c -- where the tokenizer's vocab.json and merges.txt are looked for.
 *
 * The files are not ours to ship inside the binary (1.5 MB of data that ComfyUI keeps in
 * comfy/sd1_tokenizer/), so they are searched in the folders a user controls first, then
 * in the data folder `make install` fills. When none has them and downloads are allowed,
 * the sd1 files are fetched from Hugging Face (openai/clip-vit-large-patch14, or a mirror
 * of it) into BASE/models/tokenizers/sd1, each checked against the sha256 compiled in
 * below (those of the files the reference fixtures were made with), so a fresh machine
 * needs nothing but the network once. A miss names every folder tried and how to fix it.
 */
#include "models/tokenizer_bpe.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/download.h"
#include "base/log.h"

#ifndef CI_DATADIR
#define CI_DATADIR "/usr/local/share/comfyui-ipex"
#endif

/* The files a download fetches, in this order: vocab.json, whose presence marks a
 * tokenizer folder, comes last, so an interrupted download is never taken for one. */
static const struct { const char *name, *file, *sha256; } tok_known[] = {
    {"sd1", "merges.txt", "9fd691f7c8039210e0fced15865466c65820d09b63988b0174bfe25de299051a"},
    {"sd1", "vocab.json", "e089ad92ba36837a0d31433e555c8f45fe601ab5c221d4f607ded32d9f7a4349"},
};
#define TOK_KNOWN (sizeof tok_known / sizeof *tok_known)

static int has_vocab(const char *dir) {
    char path[4200];
    if (snprintf(path, sizeof path, "%s/vocab.json", dir) >= (int)sizeof path) return 0;
    return access(path, R_OK) == 0;
}

static int make_dir(const char *path) {
    return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

/* Fetches the files of tokenizer `name` from url into BASE/models/tokenizers/NAME. */
static int tokenizer_download(const char *name, const char *url, const char *base_dir,
                              char *dir, size_t dirlen, char *err, size_t errlen) {
    char path[4400];
    int n = 0;
    for (size_t i = 0; i < TOK_KNOWN; i++) n += !strcmp(tok_known[i].name, name);
    if (!n) { snprintf(err, errlen, "no download is known for tokenizer '%s'", name); return -1; }
    if (snprintf(path, sizeof path, "%s/models/tokenizers", base_dir) >= (int)sizeof path ||
        snprintf(dir, dirlen, "%s/models/tokenizers/%s", base_dir, name) >= (int)dirlen) {
        snprintf(err, errlen, "base folder path too long");
        return -1;
    }
    if (make_dir(path) || make_dir(dir)) {
        int e = errno;
        if (snprintf(err, errlen, "%s: %s", dir, strerror(e)) >= (int)errlen) err[errlen - 1] = 0;
        return -1;
    }
    for (size_t i = 0; i < TOK_KNOWN; i++) {
        if (strcmp(tok_known[i].name, name)) continue;
        char src[2200];
        snprintf(src, sizeof src, "%s%s%s", url, url[0] && url[strlen(url) - 1] == '/' ? "" : "/",
                 tok_known[i].file);
        snprintf(path, sizeof path, "%s/%s", dir, tok_known[i].file);
        log_info("tokenizer: downloading %s to %s", src, path);
        if (download_verified(src, path, tok_known[i].sha256, err, errlen)) return -1;
    }
    log_info("tokenizer: %s saved in %s (sha256 verified)", name, dir);
    return 0;
}

tokenizer *tokenizer_find(const char *name, const char *override_dir, const char *base_dir,
                          const char *const *extra_model_dirs, size_t n_extra,
                          const char *download_url, char *err, size_t errlen) {
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
    char why[1024] = "downloads are off";
    if (download_url && base_dir) {
        if (tokenizer_download(name, download_url, base_dir, dir, sizeof dir, why, sizeof why) == 0)
            return tokenizer_load(dir, err, errlen);
        log_error("tokenizer: download failed: %s", why);
    }
    snprintf(err, errlen,
             "no CLIP tokenizer vocabulary (vocab.json, merges.txt) found; looked in: %s; "
             "download: %s. Copy both files from ComfyUI's comfy/sd1_tokenizer/ (or Hugging "
             "Face openai/clip-vit-large-patch14) into one of these folders, or pass "
             "--tokenizer-dir DIR", tried, why);
    return NULL;
}
