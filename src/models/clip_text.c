/* clip_text.c -- see clip_text.h: the family picks clip_model or clip_sdxl. */
#include "models/clip_text.h"
#include "models/clip_internal.h"
#include "models/clip_sdxl.h"

#include <stdlib.h>

struct clip_text {
    clip_model *one;   /* SD1.x, SD2.x */
    clip_sdxl *xl;     /* SDXL base and refiner */
};

clip_text *clip_text_load(const ckpt *c, const model_config *mc, const tokenizer *tok,
                          char **err) {
    *err = NULL;
    clip_text *t = calloc(1, sizeof *t);
    if (!t) { *err = clip_errf("out of memory"); return NULL; }
    const char *single = mc->family == MODEL_SD15 ? mc->clip_l_prefix
                       : mc->family == MODEL_SD20 ? mc->clip_h_prefix : NULL;
    if (single && single[0]) {
        t->one = clip_load(c, single, tok, err);
    } else if (!single && mc->clip_g_prefix[0]) {
        const char *l = mc->family == MODEL_SDXL ? mc->clip_l_prefix : NULL;
        if (l && !l[0]) *err = clip_errf("%s checkpoint without its clip_l text encoder", mc->name);
        else t->xl = clip_sdxl_load(c, l, mc->clip_g_prefix, tok, err);
    } else {
        *err = clip_errf("%s checkpoint without a text encoder", mc->name);
    }
    if (!t->one && !t->xl) {
        free(t);
        return NULL;
    }
    return t;
}

void clip_text_free(clip_text *t) {
    if (!t) return;
    clip_free(t->one);
    clip_sdxl_free(t->xl);
    free(t);
}

int clip_text_set_embedding_dirs(clip_text *t, const char *const *dirs, size_t n) {
    return t->one ? clip_set_embedding_dirs(t->one, dirs, n)
                  : clip_sdxl_set_embedding_dirs(t->xl, dirs, n);
}

int clip_text_encode(clip_text *t, const char *text, const char *text_g, int clip_skip,
                     tensor **cond, tensor **pooled, char **err) {
    if (t->one) return clip_encode(t->one, text, clip_skip, cond, pooled, err);
    return clip_sdxl_encode(t->xl, text, text_g ? text_g : text, clip_skip, cond, pooled, err);
}
