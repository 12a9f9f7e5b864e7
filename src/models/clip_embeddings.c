/* clip_embeddings.c -- textual inversions ("embedding:NAME" in a prompt), as ComfyUI's
 * sd1_clip.load_embed finds and reads them.
 *
 * NAME is tried as given and with .safetensors, .pt and .bin in each embeddings folder,
 * never outside it (a name that climbs out with "../" is skipped). From the file the
 * vectors are: A1111's "string_to_param.*", else the encoder's own key ("clip_l" for a
 * 768-wide encoder, "clip_g" for 1280, "clip_h" for 1024), else the first tensor whose
 * last dimension is the encoder width, else the first tensor. They must be (n, dim) or
 * (dim); anything else counts as not found, with a warning.
 */
#include "models/clip_internal.h"
#include "base/log.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int clip_set_embedding_dirs(clip_model *m, const char *const *dirs, size_t n) {
    char **copy = calloc(n ? n : 1, sizeof *copy);
    if (!copy) return -1;
    for (size_t i = 0; i < n; i++)
        if (!(copy[i] = strdup(dirs[i]))) {
            while (i--) free(copy[i]);
            free(copy);
            return -1;
        }
    for (size_t i = 0; i < m->n_emb_dirs; i++) free(m->emb_dirs[i]);
    free(m->emb_dirs);
    m->emb_dirs = copy;
    m->n_emb_dirs = n;
    return 0;
}

/* DIR/NAME[EXT] when it is a regular file inside DIR; resolved path in out. */
static int embedding_file(const char *dir, const char *name, const char *ext, char *out) {
    char path[PATH_MAX * 2], root[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s%s", dir, name, ext) >= (int)sizeof path) return 0;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    if (!realpath(dir, root) || !realpath(path, out)) return 0;
    size_t l = strlen(root);
    return strncmp(out, root, l) == 0 && out[l] == '/';
}

static const tensor *pick_vectors(const ckpt *c, int dim) {
    size_t n = ckpt_count(c);
    size_t i = ckpt_next(c, "string_to_param.", 0);
    if (i < n) return ckpt_at(c, i);
    const char *own = dim == 768 ? "clip_l" : dim == 1280 ? "clip_g" : "clip_h";
    const tensor *t = ckpt_get(c, own);
    if (t) return t;
    for (i = 0; i < n; i++) {
        t = ckpt_at(c, i);
        if (t->ndim >= 1 && t->ne[t->ndim - 1] == dim) return t;
    }
    return n ? ckpt_at(c, 0) : NULL;
}

static float *read_vectors(const char *path, int dim, size_t *rows) {
    char *err = NULL;
    ckpt *c = ckpt_open(path, &err);
    if (!c) {
        log_warn("embedding %s: %s", path, err ? err : "cannot be read");
        free(err);
        return NULL;
    }
    const tensor *t = pick_vectors(c, dim);
    float *out = NULL;
    if (!t || t->ndim < 1 || t->ndim > 2 || t->ne[t->ndim - 1] != dim) {
        log_warn("embedding %s: no (n, %d) tensor in it", path, dim);
    } else {
        tensor *f = tensor_to_f32(t);
        *rows = f ? (size_t)(t->ndim == 2 ? t->ne[0] : 1) : 0;
        if (f && *rows > 0 && (out = malloc(*rows * (size_t)dim * sizeof *out)))
            memcpy(out, f->data, *rows * (size_t)dim * sizeof *out);
        tensor_free(f);
    }
    ckpt_close(c);
    return out;
}

float *clip_find_embedding(void *model, const char *name, size_t *n, int *dim) {
    clip_model *m = model;
    static const char *const exts[] = {"", ".safetensors", ".pt", ".bin"};
    char path[PATH_MAX];
    for (size_t d = 0; d < m->n_emb_dirs; d++)
        for (size_t e = 0; e < sizeof exts / sizeof *exts; e++)
            if (embedding_file(m->emb_dirs[d], name, exts[e], path)) {
                *dim = m->cfg.dim;
                return read_vectors(path, m->cfg.dim, n);
            }
    return NULL;
}
