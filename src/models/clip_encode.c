/* clip_encode.c -- ComfyUI's CLIPTextEncode on the CLIP text model
 * (sd1_clip.py: ClipTokenWeightEncoder.encode_token_weights).
 *
 * The chunks of a prompt run as batches of rows. When any token has a weight other than
 * 1.0, one more row is encoded: the empty prompt [START, END, PAD...]; every weighted token is
 * then moved away from the empty prompt's output at its position,
 *     z = (z - z_empty) * w + z_empty        (in f32, in this order, as torch does),
 * and tokens of weight exactly 1.0 are left alone. The chunks are concatenated along the
 * token axis. The pooled output is the final-layer-norm output of the first chunk at its
 * first END token, whatever clip_skip says, times text_projection when the model has one.
 */
#include "models/clip_internal.h"
#include "models/tokenizer_chunks.h"

#include <stdlib.h>
#include <string.h>

/* Rows (chunks) per forward pass: ComfyUI encodes all chunks as one batch, which makes the
 * activation memory grow with the prompt; rows are independent, so slices give the same
 * numbers with memory bounded for any prompt length. */
#define CLIP_MAX_ROWS 4

/* CLIPSetLastLayer(k): k < 0 counts from the end, |k| beyond the depth means "last", 0 is
 * the model's default. Returns the encoder layer index whose output is used, or -1 for
 * the final output. */
static int clip_hidden_index(const clip_config *cfg, int clip_skip) {
    if (clip_skip == 0) clip_skip = cfg->default_skip;
    if (clip_skip >= 0 || -clip_skip > cfg->layers) return -1;
    int idx = cfg->layers + clip_skip;
    /* the last layer through the final layer norm is the final output itself */
    return idx == cfg->layers - 1 && cfg->layer_norm_hidden ? -1 : idx;
}

static int first_end(const tok_token *row, int n, int32_t end) {
    for (int j = 0; j < n; j++)
        if (row[j].id == end) return j;
    return n - 1;
}

static void apply_weights(float *z, const float *z_empty, const tok_token *tok, int64_t P,
                          int64_t D) {
    for (int64_t j = 0; j < P; j++) {
        if (tok[j].weight == 1.0) continue;
        const float w = (float)tok[j].weight;
        for (int64_t i = 0; i < D; i++) {
            float e = z_empty[j * D + i];
            z[j * D + i] = (z[j * D + i] - e) * w + e;
        }
    }
}

/* pooled = x (1, dim) projected by text_projection (proj, dim), when the model has one. */
static tensor *clip_pooled(const clip_model *m, const float *x) {
    const tensor *p = m->w.text_projection;
    const int64_t D = m->cfg.dim, out = p ? p->ne[0] : D;
    tensor *t = tensor_new(DT_F32, 2, (int64_t[]){1, out});
    if (!t) return NULL;
    float *y = t->data;
    if (!p) {
        memcpy(y, x, (size_t)D * sizeof *y);
        return t;
    }
    const float *w = p->data;
    for (int64_t o = 0; o < out; o++) {
        double acc = 0;
        for (int64_t i = 0; i < D; i++) acc += (double)w[o * D + i] * x[i];
        y[o] = (float)acc;
    }
    return t;
}

int clip_tokenize(clip_model *m, const char *text, tok_chunks *ch, char **err) {
    char msg[512];
    tok_options opt = {.pad_id = m->cfg.pad_id, .find_embedding = clip_find_embedding, .ud = m};
    *err = NULL;
    if (tokenize_with_weights(m->tok, text, &opt, ch, msg, sizeof msg) == 0) return 0;
    *err = clip_errf("%s", msg);
    return -1;
}

int clip_encode_tokens(clip_model *m, const tok_chunks *ch, int clip_skip, tensor **cond,
                       tensor **pooled, char **err) {
    *cond = *pooled = NULL;
    *err = NULL;
    const clip_config *cfg = &m->cfg;
    if (cfg->positions != TOK_CHUNK_LEN) {
        *err = clip_errf("CLIP with %d positions: only 77-token chunks are supported",
                         cfg->positions);
        return -1;
    }
    if (ch->n_embeds && ch->embed_dim != cfg->dim) {
        *err = clip_errf("textual inversion width %d does not match the text encoder (%d)",
                         ch->embed_dim, cfg->dim);
        return -1;
    }
    const int64_t P = TOK_CHUNK_LEN, D = cfg->dim, K = (int64_t)ch->n_chunks;
    int weighted = 0;
    for (int64_t i = 0; i < K * P; i++) weighted |= ch->tok[i].weight != 1.0;
    const int64_t B = K + weighted;

    float *z_empty = NULL;
    int32_t *ids = malloc((size_t)(B * P) * sizeof *ids);
    int32_t *eidx = malloc((size_t)(B * P) * sizeof *eidx);
    int rc = -1;
    if (!ids || !eidx) { *err = clip_errf("out of memory"); goto done; }
    for (int64_t i = 0; i < K * P; i++) {
        ids[i] = ch->tok[i].id;
        eidx[i] = ch->tok[i].embed;
    }
    if (weighted) {   /* the empty prompt: START, END, then padding */
        for (int64_t j = 0; j < P; j++) {
            ids[K * P + j] = j == 0 ? tokenizer_start_id(m->tok)
                           : j == 1 ? tokenizer_end_id(m->tok) : cfg->pad_id;
            eidx[K * P + j] = -1;
        }
    }
    int hidx = clip_hidden_index(cfg, clip_skip);
    *cond = tensor_new(DT_F32, 3, (int64_t[]){1, K * P, D});
    z_empty = weighted ? malloc((size_t)(P * D) * sizeof *z_empty) : NULL;
    if (!*cond || (weighted && !z_empty)) {
        *err = clip_errf("out of memory");
        goto done;
    }
    float *cv = (*cond)->data;
    for (int64_t s = 0; s < B; s += CLIP_MAX_ROWS) {
        int n = (int)(B - s < CLIP_MAX_ROWS ? B - s : CLIP_MAX_ROWS);
        tensor *final, *hidden = NULL;
        if (clip_forward(m, ids + s * P, eidx + s * P, ch->embeds, n, hidx, &final,
                         hidx >= 0 ? &hidden : NULL, err))
            goto done;
        const float *z = (hidden ? hidden : final)->data;
        for (int64_t r = s; r < s + n; r++)
            memcpy(r < K ? cv + r * P * D : z_empty, z + (r - s) * P * D,
                   (size_t)(P * D) * sizeof(float));
        if (s == 0) {
            int eos = first_end(ch->tok, (int)P, tokenizer_end_id(m->tok));
            if (!(*pooled = clip_pooled(m, (const float *)final->data + eos * D))) {
                *err = clip_errf("out of memory");
                goto done;
            }
        }
    }
    for (int64_t k = 0; weighted && k < K; k++)
        apply_weights(cv + k * P * D, z_empty, ch->tok + k * P, P, D);
    rc = 0;
done:
    if (rc) {
        tensor_free(*cond);
        tensor_free(*pooled);
        *cond = *pooled = NULL;
    }
    free(ids);
    free(eidx);
    free(z_empty);
    return rc;
}

int clip_encode(clip_model *m, const char *text, int clip_skip, tensor **cond,
                tensor **pooled, char **err) {
    tok_chunks ch;
    *cond = *pooled = NULL;
    if (clip_tokenize(m, text, &ch, err)) return -1;
    int rc = clip_encode_tokens(m, &ch, clip_skip, cond, pooled, err);
    tok_chunks_free(&ch);
    return rc;
}
