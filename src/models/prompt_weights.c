/* prompt_weights.c -- ComfyUI's weight parser (comfy/sd1_clip.py token_weights), on code points.
 *
 * The prompt is first "escaped": "\(" and "\)" become code points above Unicode's range, so
 * the paren scan cannot see them; they become plain parentheses again in the segments.
 * The scan splits text into top-level items, each either plain text or one balanced
 * "( ... )" group; a group's weight is 1.1 times the enclosing one unless its last ':'
 * (not at position 0) is followed by something Python's float() accepts, which then sets
 * it. Groups are parsed again recursively. An unmatched ')' drives the depth negative and
 * simply stays text, as in ComfyUI.
 */
#include "models/prompt_weights.h"
#include "models/tokenizer_unicode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define ESC_OPEN  0x110000u
#define ESC_CLOSE 0x110001u
/* Python's default recursion limit is 1000: deeper prompts fail in ComfyUI too. */
#define PROMPT_MAX_DEPTH 900

int prompt_utf8_decode(const char *s, size_t len, uint32_t **out, size_t *n) {
    uint32_t *cp = malloc((len + 1) * sizeof *cp);
    if (!cp) return -1;
    size_t k = 0, i = 0;
    while (i < len) {
        utf8proc_int32_t c;
        utf8proc_ssize_t used = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                                 (utf8proc_ssize_t)(len - i), &c);
        if (used <= 0) { free(cp); return -1; }
        cp[k++] = (uint32_t)c;
        i += (size_t)used;
    }
    *out = cp;
    *n = k;
    return 0;
}

char *prompt_utf8_encode(const uint32_t *cp, size_t n, size_t *len) {
    char *s = malloc(4 * n + 1);
    if (!s) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += (size_t)utf8proc_encode_char((utf8proc_int32_t)cp[i], (utf8proc_uint8_t *)s + k);
    s[k] = '\0';
    if (len) *len = k;
    return s;
}

/* ---- Python float() ---- */

static int ascii_digit(uint32_t c) { return c >= '0' && c <= '9'; }

/* digitpart: digit (["_"] digit)*, copied without the underscores. Returns digits read. */
static size_t float_digits(const uint32_t *s, size_t n, size_t *i, char *buf, size_t *k) {
    size_t count = 0;
    while (*i < n) {
        if (ascii_digit(s[*i])) {
            buf[(*k)++] = (char)s[(*i)++];
            count++;
        } else if (s[*i] == '_' && count > 0 && *i + 1 < n && ascii_digit(s[*i + 1])) {
            (*i)++;
        } else {
            break;
        }
    }
    return count;
}

static int float_word(const uint32_t *s, size_t n, const char *w) {
    size_t len = strlen(w);
    if (n != len) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] > 127 || (s[i] | 0x20) != (uint32_t)w[i]) return 0;
    return 1;
}

int prompt_parse_float(const uint32_t *s, size_t n, double *out) {
    while (n > 0 && tok_is_space(s[0])) { s++; n--; }
    while (n > 0 && tok_is_space(s[n - 1])) n--;
    char buf[512];
    if (n == 0 || n >= sizeof buf) return -1;
    size_t i = 0, k = 0;
    if (s[i] == '+' || s[i] == '-') buf[k++] = (char)s[i++];
    if (float_word(s + i, n - i, "inf") || float_word(s + i, n - i, "infinity") ||
        float_word(s + i, n - i, "nan")) {
        for (; i < n; i++) buf[k++] = (char)s[i];
    } else {
        size_t mant = float_digits(s, n, &i, buf, &k);
        if (i < n && s[i] == '.') {
            buf[k++] = '.';
            i++;
            mant += float_digits(s, n, &i, buf, &k);
        }
        if (mant == 0) return -1;
        if (i < n && (s[i] == 'e' || s[i] == 'E')) {
            buf[k++] = 'e';
            i++;
            if (i < n && (s[i] == '+' || s[i] == '-')) buf[k++] = (char)s[i++];
            if (float_digits(s, n, &i, buf, &k) == 0) return -1;
        }
        if (i != n) return -1;
    }
    buf[k] = '\0';
    char *end;
    *out = strtod(buf, &end);
    return *end == '\0' ? 0 : -1;
}

/* ---- the paren scan ---- */

static int segments_push(prompt_segments *out, const uint32_t *s, size_t n, double w) {
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 8;
        prompt_segment *v = realloc(out->v, cap * sizeof *v);
        if (!v) return -1;
        out->v = v;
        out->cap = cap;
    }
    uint32_t *t = malloc((n + 1) * sizeof *t);
    if (!t) return -1;
    for (size_t i = 0; i < n; i++)
        t[i] = s[i] == ESC_OPEN ? '(' : s[i] == ESC_CLOSE ? ')' : s[i];
    out->v[out->n++] = (prompt_segment){t, n, w};
    return 0;
}

/* One item of the top-level scan [start, end) has been found: a "( ... )" group is parsed
 * again with its own weight, anything else is a segment. */
static int token_weights(const uint32_t *s, size_t n, double weight, int depth,
                         prompt_segments *out);

static int weigh_item(const uint32_t *s, size_t n, double weight, int depth,
                      prompt_segments *out) {
    if (n < 2 || s[0] != '(' || s[n - 1] != ')') return segments_push(out, s, n, weight);
    const uint32_t *in = s + 1;
    size_t len = n - 2, colon = 0;
    for (size_t i = len; i > 0; i--)
        if (in[i - 1] == ':') { colon = i - 1; break; }
    double w = weight * 1.1;
    if (colon > 0 && prompt_parse_float(in + colon + 1, len - colon - 1, &w) == 0) len = colon;
    return token_weights(in, len, w, depth + 1, out);
}

static int token_weights(const uint32_t *s, size_t n, double weight, int depth,
                         prompt_segments *out) {
    if (depth > PROMPT_MAX_DEPTH) return -2;
    long level = 0;
    size_t start = 0;   /* the current item is [start, i) */
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '(') {
            if (level == 0 && i > start) {
                int rc = weigh_item(s + start, i - start, weight, depth, out);
                if (rc) return rc;
                start = i;
            }
            level++;
        } else if (s[i] == ')') {
            if (--level == 0) {
                int rc = weigh_item(s + start, i + 1 - start, weight, depth, out);
                if (rc) return rc;
                start = i + 1;
            }
        }
    }
    return n > start ? weigh_item(s + start, n - start, weight, depth, out) : 0;
}

int prompt_parse(const char *utf8, prompt_segments *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    uint32_t *cp;
    size_t n;
    if (prompt_utf8_decode(utf8, strlen(utf8), &cp, &n)) {
        snprintf(err, errlen, "prompt is not valid UTF-8");
        return -1;
    }
    size_t k = 0;   /* escape in place: "\(" -> ESC_OPEN, "\)" -> ESC_CLOSE */
    for (size_t i = 0; i < n; i++) {
        if (cp[i] == '\\' && i + 1 < n && (cp[i + 1] == '(' || cp[i + 1] == ')'))
            cp[k++] = cp[++i] == '(' ? ESC_OPEN : ESC_CLOSE;
        else
            cp[k++] = cp[i];
    }
    int rc = token_weights(cp, k, 1.0, 0, out);
    free(cp);
    if (rc == 0) return 0;
    if (rc == -2)
        snprintf(err, errlen, "prompt nests parentheses more than %d deep", PROMPT_MAX_DEPTH);
    else
        snprintf(err, errlen, "out of memory parsing the prompt");
    prompt_segments_free(out);
    return -1;
}

void prompt_segments_free(prompt_segments *s) {
    for (size_t i = 0; i < s->n; i++) free(s->v[i].text);
    free(s->v);
    memset(s, 0, sizeof *s);
}
