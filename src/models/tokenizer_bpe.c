/* tokenizer_bpe.c -- see tokenizer_bpe.h.
 *
 * Tables: the vocabulary is an open-addressing hash from string to id; merges.txt becomes
 * a hash from the id pair (left, right) to (rank, merged id), so BPE works on ids alone.
 * Merges whose result is not in the vocabulary are skipped, which is how CLIP's 48 894
 * used merges are selected from the longer merges.txt.
 *
 * BPE on one piece keeps the symbols in a linked list and the candidate pairs in a binary
 * heap ordered by (rank, position), like `tokenizers`: the lowest-ranked pair is merged,
 * leftmost first, and stale heap entries are skipped when popped. This is the classic
 * "merge every occurrence of the best pair" result in O(n log n), so a very long piece
 * cannot stall the server.
 */
#include "models/tokenizer_bpe.h"
#include "models/prompt_weights.h"
#include "models/tokenizer_unicode.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

typedef struct { const char *s; int32_t id; } vocab_slot;
typedef struct { uint64_t key; int32_t rank, id; } merge_slot;   /* key 0: empty */

struct tokenizer {
    vocab_slot *vocab;   /* cap_vocab slots, s == NULL: empty */
    size_t cap_vocab, n_vocab;
    char *strings;       /* backing store of the vocabulary strings */
    merge_slot *merges;
    size_t cap_merges;
    int32_t byte_id[256], byte_end_id[256];   /* byte symbol, and with "</w>" */
    int32_t start_id, end_id;
};

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static size_t table_cap(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    return cap;
}

int32_t tokenizer_lookup(const tokenizer *t, const char *word) {
    size_t mask = t->cap_vocab - 1;
    for (size_t i = hash_str(word) & mask; t->vocab[i].s; i = (i + 1) & mask)
        if (strcmp(t->vocab[i].s, word) == 0) return t->vocab[i].id;
    return -1;
}

static void vocab_insert(tokenizer *t, const char *s, int32_t id) {
    size_t mask = t->cap_vocab - 1, i = hash_str(s) & mask;
    while (t->vocab[i].s && strcmp(t->vocab[i].s, s) != 0) i = (i + 1) & mask;
    if (!t->vocab[i].s) t->n_vocab++;
    t->vocab[i] = (vocab_slot){s, id};
}

static uint64_t merge_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
}

static const merge_slot *merge_find(const tokenizer *t, int32_t a, int32_t b) {
    uint64_t key = merge_key(a, b);
    size_t mask = t->cap_merges - 1;
    for (size_t i = hash_u64(key) & mask; t->merges[i].key; i = (i + 1) & mask)
        if (t->merges[i].key == key) return &t->merges[i];
    return NULL;
}

/* ---- loading ---- */

static char *read_file(const char *path, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size >= 0 && fseek(f, 0, SEEK_SET) == 0) buf = malloc((size_t)size + 1);
    if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) { free(buf); buf = NULL; }
    fclose(f);
    if (!buf) {
        snprintf(err, errlen, "cannot read %s", path);
        return NULL;
    }
    buf[size] = '\0';
    *len = (size_t)size;
    return buf;
}

static int load_vocab(tokenizer *t, const char *dir, char *err, size_t errlen) {
    char path[4200];
    size_t len;
    if (snprintf(path, sizeof path, "%s/vocab.json", dir) >= (int)sizeof path) {
        snprintf(err, errlen, "tokenizer folder name too long");
        return -1;
    }
    char *text = read_file(path, &len, err, errlen);
    if (!text) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root) || cJSON_GetArraySize(root) == 0) {
        snprintf(err, errlen, "%s is not a JSON object of token -> id", path);
        cJSON_Delete(root);
        return -1;
    }
    size_t n = 0, bytes = 0;
    for (cJSON *e = root->child; e; e = e->next, n++) bytes += strlen(e->string) + 1;
    t->cap_vocab = table_cap(n);
    t->vocab = calloc(t->cap_vocab, sizeof *t->vocab);
    t->strings = malloc(bytes);
    int rc = t->vocab && t->strings ? 0 : -1;
    char *p = t->strings;
    for (cJSON *e = root->child; e && rc == 0; e = e->next) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= (1 << 30) ||
            e->valuedouble != (double)e->valueint) {
            snprintf(err, errlen, "%s: token \"%.40s\" has no valid id", path, e->string);
            rc = -1;
            break;
        }
        size_t l = strlen(e->string) + 1;
        memcpy(p, e->string, l);
        vocab_insert(t, p, e->valueint);
        p += l;
    }
    if (rc && !err[0]) snprintf(err, errlen, "out of memory loading %s", path);
    cJSON_Delete(root);
    return rc;
}

static int load_merges(tokenizer *t, const char *dir, char *err, size_t errlen) {
    char path[4200];
    size_t len;
    if (snprintf(path, sizeof path, "%s/merges.txt", dir) >= (int)sizeof path) {
        snprintf(err, errlen, "tokenizer folder name too long");
        return -1;
    }
    char *text = read_file(path, &len, err, errlen);
    if (!text) return -1;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    t->cap_merges = table_cap(lines);
    t->merges = calloc(t->cap_merges, sizeof *t->merges);
    char *word = malloc(len + 2);
    if (!t->merges || !word) {
        free(text);
        free(word);
        snprintf(err, errlen, "out of memory loading %s", path);
        return -1;
    }
    int32_t rank = 0;
    for (char *line = text, *next; line < text + len; line = next) {
        next = strchr(line, '\n');
        next = next ? next + 1 : text + len;
        size_t l = (size_t)(next - line);
        while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r')) l--;
        if (l == 0 || (rank == 0 && line == text && strncmp(line, "#version", 8) == 0)) continue;
        char *space = memchr(line, ' ', l);
        if (!space) {
            snprintf(err, errlen, "%s: line \"%.40s\" is not a pair", path, line);
            free(text);
            free(word);
            return -1;
        }
        size_t la = (size_t)(space - line), lb = l - la - 1;
        memcpy(word, line, la);
        word[la] = '\0';
        int32_t a = tokenizer_lookup(t, word);
        memcpy(word, space + 1, lb);
        word[lb] = '\0';
        int32_t b = tokenizer_lookup(t, word);
        memcpy(word, line, la);
        memcpy(word + la, space + 1, lb);
        word[la + lb] = '\0';
        int32_t id = tokenizer_lookup(t, word);
        int32_t r = rank++;
        if (a < 0 || b < 0 || id < 0 || merge_find(t, a, b)) continue;
        uint64_t key = merge_key(a, b);
        size_t mask = t->cap_merges - 1, i = hash_u64(key) & mask;
        while (t->merges[i].key) i = (i + 1) & mask;
        t->merges[i] = (merge_slot){key, r, id};
    }
    free(text);
    free(word);
    return 0;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68
 * bytes map to U+0100... in increasing order. */
static int load_byte_symbols(tokenizer *t, char *err, size_t errlen) {
    uint32_t next = 0x100;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        uint32_t cp = keep ? (uint32_t)b : next++;
        char sym[16];
        utf8proc_ssize_t l = utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t *)sym);
        sym[l] = '\0';
        t->byte_id[b] = tokenizer_lookup(t, sym);
        strcpy(sym + l, "</w>");
        t->byte_end_id[b] = tokenizer_lookup(t, sym);
        if (t->byte_id[b] < 0 || t->byte_end_id[b] < 0) {
            snprintf(err, errlen, "vocab.json lacks the byte symbol for 0x%02x", b);
            return -1;
        }
    }
    return 0;
}

tokenizer *tokenizer_load(const char *dir, char *err, size_t errlen) {
    tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    err[0] = '\0';
    if (load_vocab(t, dir, err, errlen) || load_merges(t, dir, err, errlen) ||
        load_byte_symbols(t, err, errlen)) {
        tokenizer_free(t);
        return NULL;
    }
    t->start_id = tokenizer_lookup(t, "<|startoftext|>");
    t->end_id = tokenizer_lookup(t, "<|endoftext|>");
    if (t->start_id < 0 || t->end_id < 0) {
        snprintf(err, errlen, "%s/vocab.json has no <|startoftext|>/<|endoftext|>", dir);
        tokenizer_free(t);
        return NULL;
    }
    return t;
}

void tokenizer_free(tokenizer *t) {
    if (!t) return;
    free(t->vocab);
    free(t->strings);
    free(t->merges);
    free(t);
}

int32_t tokenizer_start_id(const tokenizer *t) { return t->start_id; }
int32_t tokenizer_end_id(const tokenizer *t) { return t->end_id; }
size_t tokenizer_vocab_size(const tokenizer *t) { return t->n_vocab; }

int tok_ids_push(tok_ids *a, int32_t id) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        int32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v) return -1;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = id;
    return 0;
}

void tok_ids_free(tok_ids *a) {
    free(a->v);
    memset(a, 0, sizeof *a);
}

/* ---- BPE of one pre-tokenized piece ---- */

typedef struct { int32_t rank, pos, left, right; } bpe_cand;
typedef struct { int32_t id, prev, next; } bpe_sym;

static int cand_less(const bpe_cand *a, const bpe_cand *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(bpe_cand *h, size_t *n, bpe_cand c) {
    size_t i = (*n)++;
    while (i > 0 && cand_less(&c, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = c;
}

static bpe_cand heap_pop(bpe_cand *h, size_t *n) {
    bpe_cand top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && cand_less(&h[c + 1], &h[c])) c++;
        if (!cand_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static void bpe_consider(const tokenizer *t, const bpe_sym *s, int32_t pos, bpe_cand *heap,
                         size_t *nheap) {
    if (pos < 0 || s[pos].next < 0) return;
    const merge_slot *m = merge_find(t, s[pos].id, s[s[pos].next].id);
    if (m) heap_push(heap, nheap, (bpe_cand){m->rank, pos, s[pos].id, s[s[pos].next].id});
}

static int bpe_piece(const tokenizer *t, const unsigned char *bytes, size_t n, tok_ids *out) {
    bpe_sym *s = malloc(n * sizeof *s);
    bpe_cand *heap = malloc(3 * n * sizeof *heap);   /* n-1 initial + at most 2 per merge */
    if (!s || !heap) { free(s); free(heap); return -1; }
    for (size_t i = 0; i < n; i++)
        s[i] = (bpe_sym){i + 1 < n ? t->byte_id[bytes[i]] : t->byte_end_id[bytes[i]],
                         (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1};
    size_t nheap = 0;
    for (size_t i = 0; i + 1 < n; i++) bpe_consider(t, s, (int32_t)i, heap, &nheap);
    while (nheap) {
        bpe_cand c = heap_pop(heap, &nheap);
        int32_t r = s[c.pos].next;
        if (s[c.pos].id != c.left || r < 0 || s[r].id != c.right) continue;   /* stale */
        s[c.pos].id = merge_find(t, c.left, c.right)->id;
        s[c.pos].next = s[r].next;
        if (s[r].next >= 0) s[s[r].next].prev = c.pos;
        s[r].id = -1;   /* removed: never matches a candidate again */
        bpe_consider(t, s, s[c.pos].prev, heap, &nheap);
        bpe_consider(t, s, c.pos, heap, &nheap);
    }
    int rc = 0;
    for (int32_t i = 0; i >= 0 && rc == 0; i = s[i].next) rc = tok_ids_push(out, s[i].id);
    free(s);
    free(heap);
    return rc;
}

/* ---- pre-tokenizer ---- */

static int is_contraction(const uint32_t *c, size_t n, size_t *len) {
    static const char *const forms[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    for (size_t f = 0; f < sizeof forms / sizeof *forms; f++) {
        size_t l = strlen(forms[f]), k = 0;
        while (k < l && k < n && c[k] == (unsigned char)forms[f][k]) k++;
        if (k == l) { *len = l; return 1; }
    }
    return 0;
}

static int is_other(uint32_t c) {
    return !tok_is_space(c) && !tok_is_letter(c) && !tok_is_number(c);
}

/* Normalise n code points and BPE every piece of the CLIP pre-tokenizer regex. */
static int encode_text(const tokenizer *t, const uint32_t *text, size_t n, tok_ids *out) {
    size_t m;
    uint32_t *c = tok_normalize(text, n, &m);
    if (!c) return -1;
    int rc = 0;
    for (size_t i = 0; i < m && rc == 0;) {
        size_t len = 1;
        if (tok_is_space(c[i])) { i++; continue; }
        if (is_contraction(c + i, m - i, &len)) {
        } else if (tok_is_letter(c[i])) {
            while (i + len < m && tok_is_letter(c[i + len])) len++;
        } else if (!tok_is_number(c[i])) {
            while (i + len < m && is_other(c[i + len])) len++;
        }
        size_t nbytes;
        char *bytes = prompt_utf8_encode(c + i, len, &nbytes);
        rc = bytes ? bpe_piece(t, (const unsigned char *)bytes, nbytes, out) : -1;
        free(bytes);
        i += len;
    }
    free(c);
    return rc;
}

static int match_special(const uint32_t *c, size_t n, const char *s) {
    size_t l = strlen(s);
    if (n < l) return 0;
    for (size_t k = 0; k < l; k++)
        if (c[k] != (unsigned char)s[k]) return 0;
    return 1;
}

int tokenizer_encode(const tokenizer *t, const uint32_t *text, size_t n, tok_ids *out) {
    static const char start[] = "<|startoftext|>", end[] = "<|endoftext|>";
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        int is_start = match_special(text + i, n - i, start);
        int is_end = !is_start && match_special(text + i, n - i, end);
        if (!is_start && !is_end) continue;
        if (encode_text(t, text + from, i - from, out) ||
            tok_ids_push(out, is_start ? t->start_id : t->end_id))
            return -1;
        i += strlen(is_start ? start : end) - 1;
        from = i + 1;
    }
    return encode_text(t, text + from, n - from, out);
}
