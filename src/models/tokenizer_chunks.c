/* tokenizer_chunks.c -- see tokenizer_chunks.h.
 *
 * Two passes, as in ComfyUI: first every weighted segment becomes "groups" (one per word
 * piece or textual inversion, tagged with its group index, which is the word id minus one;
 * an empty piece still uses up an index), then the groups are packed into chunks.
 */
#include "models/tokenizer_chunks.h"
#include "models/prompt_weights.h"
#include "models/tokenizer_unicode.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int32_t id, embed, group; double w; } gtok;

typedef struct {
    gtok *v;
    size_t n, cap;
    int32_t ngroups;
    tok_chunks *out;   /* receives the embedding vectors */
} groups;

static int groups_push(groups *g, int32_t id, int32_t embed, double w) {
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        gtok *v = realloc(g->v, cap * sizeof *v);
        if (!v) return -1;
        g->v = v;
        g->cap = cap;
    }
    g->v[g->n++] = (gtok){id, embed, g->ngroups, w};
    return 0;
}

static int group_text(const tokenizer *t, groups *g, const uint32_t *s, size_t n, double w) {
    tok_ids ids = {0};
    int rc = tokenizer_encode(t, s, n, &ids);
    for (size_t i = 0; i < ids.n && rc == 0; i++) rc = groups_push(g, ids.v[i], -1, w);
    tok_ids_free(&ids);
    g->ngroups++;
    return rc;
}

/* Append an embedding's vectors to out->embeds and as one group. */
static int group_embedding(groups *g, float *vec, size_t n, int dim, double w, char *err,
                           size_t errlen) {
    tok_chunks *o = g->out;
    if (o->n_embeds && dim != o->embed_dim) {
        snprintf(err, errlen, "textual inversions of different widths (%d and %d)",
                 o->embed_dim, dim);
        return -1;
    }
    float *e = realloc(o->embeds, (o->n_embeds + n) * (size_t)dim * sizeof *e);
    if (!e) return -1;
    memcpy(e + o->n_embeds * (size_t)dim, vec, n * (size_t)dim * sizeof *e);
    o->embeds = e;
    o->embed_dim = dim;
    for (size_t i = 0; i < n; i++)
        if (groups_push(g, -1, (int32_t)(o->n_embeds + i), w)) return -1;
    o->n_embeds += n;
    g->ngroups++;
    return 0;
}

static float *find_embedding(const tok_options *o, const uint32_t *name, size_t n, size_t *rows,
                             int *dim) {
    if (!o->find_embedding) return NULL;
    char *s = prompt_utf8_encode(name, n, NULL);
    float *v = s ? o->find_embedding(o->ud, s, rows, dim) : NULL;
    free(s);
    return v;
}

/* ComfyUI's _try_get_embedding on "embedding:REST" (REST already stripped of newlines):
 * the name is REST's first whitespace-separated word, retried without surrounding commas;
 * whatever follows is tokenized as text. */
static int group_embedding_word(const tokenizer *t, groups *g, const tok_options *o,
                                const uint32_t *rest, size_t n, double w, char *err,
                                size_t errlen) {
    size_t a = 0;
    while (a < n && tok_is_space(rest[a])) a++;
    size_t b = a;
    while (b < n && !tok_is_space(rest[b])) b++;
    /* leftover = ' '.join(remaining words): spaces only separate words, so keep it as is */
    const uint32_t *left = rest + b;
    size_t nleft = n - b;
    uint32_t *extra = NULL;
    size_t rows = 0;
    int dim = 0;
    float *vec = b > a ? find_embedding(o, rest + a, b - a, &rows, &dim) : NULL;
    if (!vec && b > a) {
        size_t sa = a, sb = b;
        while (sa < sb && rest[sa] == ',') sa++;
        while (sb > sa && rest[sb - 1] == ',') sb--;
        if (sb - sa < b - a) {
            vec = find_embedding(o, rest + sa, sb - sa, &rows, &dim);
            /* ComfyUI keeps name[len(stripped):] followed by a space, then the leftover */
            size_t keep = (b - a) - (sb - sa);
            extra = malloc((keep + 1 + nleft + 1) * sizeof *extra);
            if (!extra) { free(vec); return -1; }
            memcpy(extra, rest + a + (sb - sa), keep * sizeof *extra);
            extra[keep] = ' ';
            memcpy(extra + keep + 1, left, nleft * sizeof *extra);
            left = extra;
            nleft = keep + 1 + nleft;
        }
    }
    int rc = 0;
    if (!vec) {
        char *name = prompt_utf8_encode(rest, n, NULL);
        log_warn("warning, embedding:%s does not exist, ignoring", name ? name : "?");
        free(name);
    } else {
        rc = group_embedding(g, vec, rows, dim, w, err, errlen);
        free(vec);
    }
    size_t k = 0;
    while (k < nleft && tok_is_space(left[k])) k++;
    if (rc == 0 && k < nleft) rc = group_text(t, g, left, nleft, w);
    free(extra);
    return rc;
}

static const uint32_t EMB[] = {'e', 'm', 'b', 'e', 'd', 'd', 'i', 'n', 'g', ':'};
#define EMB_LEN (sizeof EMB / sizeof *EMB)

static int starts_embedding(const uint32_t *s, size_t n) {
    return n >= EMB_LEN && memcmp(s, EMB, sizeof EMB) == 0;
}

static int group_word(const tokenizer *t, groups *g, const tok_options *o, const uint32_t *s,
                      size_t n, double w, char *err, size_t errlen) {
    if (n == 0) return 0;
    if (!starts_embedding(s, n)) return group_text(t, g, s, n, w);
    s += EMB_LEN;
    n -= EMB_LEN;
    while (n > 0 && s[0] == '\n') { s++; n--; }
    while (n > 0 && s[n - 1] == '\n') n--;
    return group_embedding_word(t, g, o, s, n, w, err, errlen);
}

/* One weighted segment: split at " embedding:" and "\nembedding:" (the separator char is
 * dropped, the "embedding:" stays with the word after it). */
static int group_segment(const tokenizer *t, groups *g, const tok_options *o,
                         const prompt_segment *seg, char *err, size_t errlen) {
    const uint32_t *s = seg->text;
    size_t n = seg->len, from = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if ((s[i] != ' ' && s[i] != '\n') || !starts_embedding(s + i + 1, n - i - 1)) continue;
        if (group_word(t, g, o, s + from, i - from, seg->weight, err, errlen)) return -1;
        from = i + 1;
        i += EMB_LEN;
    }
    return group_word(t, g, o, s + from, n - from, seg->weight, err, errlen);
}

/* ---- packing groups into chunks ---- */

typedef struct {
    tok_chunks *out;
    size_t n, cap;     /* tokens written */
} packer;

static int emit(packer *p, int32_t id, int32_t embed, double w, int32_t word) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4 * TOK_CHUNK_LEN;
        tok_token *v = realloc(p->out->tok, cap * sizeof *v);
        if (!v) return -1;
        p->out->tok = v;
        p->cap = cap;
    }
    p->out->tok[p->n++] = (tok_token){id, embed, w, word};
    return 0;
}

static int pack(const tokenizer *t, const groups *g, int32_t pad, tok_chunks *out) {
    const int32_t start = tokenizer_start_id(t), end = tokenizer_end_id(t);
    const size_t room_max = TOK_CHUNK_LEN - 1;   /* leaves space for END */
    packer p = {out, 0, 0};
    size_t cur = 1;                              /* tokens in the current chunk */
    int rc = emit(&p, start, -1, 1.0, 0);
    for (size_t i = 0; i < g->n && rc == 0;) {
        size_t j = i;
        while (j < g->n && g->v[j].group == g->v[i].group) j++;
        int big = j - i >= TOK_MAX_WORD_LEN;
        while (i < j && rc == 0) {
            if (j - i + cur > room_max) {
                size_t room = room_max - cur;
                if (big) {
                    for (size_t k = 0; k < room && rc == 0; k++, i++)
                        rc = emit(&p, g->v[i].id, g->v[i].embed, g->v[i].w, g->v[i].group + 1);
                    rc = rc ? rc : emit(&p, end, -1, 1.0, 0);
                } else {
                    rc = emit(&p, end, -1, 1.0, 0);
                    for (size_t k = 0; k < room && rc == 0; k++) rc = emit(&p, pad, -1, 1.0, 0);
                }
                rc = rc ? rc : emit(&p, start, -1, 1.0, 0);
                cur = 1;
            } else {
                for (; i < j && rc == 0; i++, cur++)
                    rc = emit(&p, g->v[i].id, g->v[i].embed, g->v[i].w, g->v[i].group + 1);
            }
        }
    }
    rc = rc ? rc : emit(&p, end, -1, 1.0, 0);
    while (rc == 0 && p.n % TOK_CHUNK_LEN) rc = emit(&p, pad, -1, 1.0, 0);
    out->n_chunks = p.n / TOK_CHUNK_LEN;
    return rc;
}

int tokenize_with_weights(const tokenizer *t, const char *prompt, const tok_options *o,
                          tok_chunks *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    err[0] = '\0';
    prompt_segments segs;
    if (prompt_parse(prompt, &segs, err, errlen)) return -1;
    groups g = {.out = out};
    int rc = 0;
    for (size_t i = 0; i < segs.n && rc == 0; i++)
        rc = group_segment(t, &g, o, &segs.v[i], err, errlen);
    if (rc == 0) rc = pack(t, &g, o->pad_id, out);
    free(g.v);
    prompt_segments_free(&segs);
    if (rc) {
        if (!err[0]) snprintf(err, errlen, "out of memory tokenizing the prompt");
        tok_chunks_free(out);
    }
    return rc;
}

int tok_chunks_pad_to(tok_chunks *c, size_t n, const tokenizer *t, int32_t pad_id) {
    if (n <= c->n_chunks) return 0;
    tok_token *v = realloc(c->tok, n * TOK_CHUNK_LEN * sizeof *v);
    if (!v) return -1;
    c->tok = v;
    for (size_t i = c->n_chunks * TOK_CHUNK_LEN; i < n * TOK_CHUNK_LEN; i++) {
        size_t j = i % TOK_CHUNK_LEN;
        int32_t id = j == 0 ? tokenizer_start_id(t) : j == 1 ? tokenizer_end_id(t) : pad_id;
        v[i] = (tok_token){id, -1, 1.0, 0};
    }
    c->n_chunks = n;
    return 0;
}

void tok_chunks_free(tok_chunks *c) {
    free(c->tok);
    free(c->embeds);
    memset(c, 0, sizeof *c);
}
