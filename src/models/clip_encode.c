/* clip_encode.c -- ComfyUI's CLIPTextEncode on the CLIP text model
 * (sd1_clip.py: ClipTokenWeightEncoder.encode_token_weights).
 *
 * All chunks of a prompt run as one batch. When any token has a weight other than 1.0,
 * one more row is encoded: the empty prompt [START, END, PAD...]; every weighted token is
 * then moved away from the empty prompt's output at its position,
 *     z = (z - z_empty) * w + z_empty        (in f32, in this order, as torch does),
 * and tokens of weight exactly 1.0 are left alone. The chunks are concatenated along the
 * token axis. The pooled output is the final-layer-norm output of the first chunk at its
 * first END token, whatever clip_skip says.
 */
#include "models/clip_internal.h"
#include "models/tokenizer_chunks.h"

#include <stdlib.h>
#include <string.h>

/* CLIPSetLastLayer(k): k < 0 counts from the end; 0 and |k| beyond the depth mean "last".
 * Returns the encoder layer index whose output is used, or -1 for the final output. */
static int clip_hidden_index(const clip_config *cfg, int clip_skip) {
    if (clip_skip >= 0 || -clip_skip > cfg->layers) return -1;
    int idx = cfg->layers + clip_skip;
    return idx == cfg->layers - 1 ? -1 : idx;   /* last layer + final LN is the final output */
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

int clip_encode(clip_model *m, const char *text, int clip_skip, tensor **cond,
                tensor **pooled, char **err) {
    *cond = *pooled = NULL;
    *err = NULL;
    const clip_config *cfg = &m->cfg;
    if (cfg->positions != TOK_CHUNK_LEN) {
        *err = clip_errf("CLIP with %d positions: only 77-token chunks are supported",
                         cfg->positions);
        return -1;
    }
    tok_chunks ch;
    char msg[512];
    tok_options opt = {.pad_id = cfg->pad_id, .find_embedding = clip_find_embedding, .ud = m};
    if (tokenize_with_weights(m->tok, text, &opt, &ch, msg, sizeof msg)) {
        *err = clip_errf("%s", msg);
        return -1;
    }
    const int64_t P = TOK_CHUNK_LEN, D = cfg->dim, K = (int64_t)ch.n_chunks;
    int weighted = 0;
    for (int64_t i = 0; i < K * P; i++) weighted |= ch.tok[i].weight != 1.0;
    const int64_t B = K + weighted;

    int32_t *ids = malloc((size_t)(B * P) * sizeof *ids);
    int32_t *eidx = malloc((size_t)(B * P) * sizeof *eidx);
    int rc = -1;
    if (!ids || !eidx) { *err = clip_errf("out of memory"); goto done; }
    for (int64_t i = 0; i < K * P; i++) {
        ids[i] = ch.tok[i].id;
        eidx[i] = ch.tok[i].embed;
    }
    if (weighted) {   /* the empty prompt: START, END, then padding */
        for (int64_t j = 0; j < P; j++) {
            ids[K * P + j] = j == 0 ? tokenizer_start_id(m->tok)
                           : j == 1 ? tokenizer_end_id(m->tok) : cfg->pad_id;
            eidx[K * P + j] = -1;
        }
    }
    if (ch.n_embeds && ch.embed_dim != cfg->dim) {
        *err = clip_errf("textual inversion width %d does not match the text encoder (%d)",
                         ch.embed_dim, cfg->dim);
        goto done;
    }
    tensor *final, *hidden = NULL;
    int hidx = clip_hidden_index(cfg, clip_skip);
    if (clip_forward(m, ids, eidx, ch.embeds, (int)B, hidx, &final, hidx >= 0 ? &hidden : NULL,
                     err))
        goto done;
    const tensor *z = hidden ? hidden : final;
    *cond = tensor_new(DT_F32, 3, (int64_t[]){1, K * P, D});
    *pooled = tensor_new(DT_F32, 2, (int64_t[]){1, D});
    if (!*cond || !*pooled) { *err = clip_errf("out of memory"); goto done; }
    memcpy((*cond)->data, z->data, (size_t)(K * P * D) * sizeof(float));
    if (weighted)
        for (int64_t k = 0; k < K; k++)
            apply_weights((float *)(*cond)->data + k * P * D, (const float *)z->data + K * P * D,
                          ch.tok + k * P, P, D);
    int eos = first_end(ch.tok, (int)P, tokenizer_end_id(m->tok));
    memcpy((*pooled)->data, (const float *)final->data + eos * D, (size_t)D * sizeof(float));
    rc = 0;
done:
    if (rc) {
        tensor_free(*cond);
        tensor_free(*pooled);
        *cond = *pooled = NULL;
    }
    free(ids);
    free(eidx);
    tok_chunks_free(&ch);
    return rc;
}
