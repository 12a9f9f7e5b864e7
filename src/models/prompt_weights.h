/* prompt_weights.h -- ComfyUI's prompt weighting syntax, parsed into weighted segments.
 *
 * ComfyUI (not A1111) syntax: "(text)" multiplies the enclosing weight by 1.1, "(text:1.3)"
 * sets it, nesting multiplies again, "\(" and "\)" are literal parentheses, "[text]" is
 * plain text. The parser works on Unicode code points, as ComfyUI's Python does, and keeps
 * the weights as the exact doubles Python computes (1.1 * 1.1 = 1.2100000000000002).
 */
#ifndef CI_PROMPT_WEIGHTS_H
#define CI_PROMPT_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

typedef struct prompt_segment {
    uint32_t *text;       /* code points, escapes already turned back into "(" and ")" */
    size_t len;
    double weight;
} prompt_segment;

typedef struct prompt_segments {
    prompt_segment *v;
    size_t n, cap;
} prompt_segments;

/* UTF-8 -> code points (malloc'd, *n of them). Returns 0, or -1 on invalid UTF-8 or OOM. */
int prompt_utf8_decode(const char *s, size_t len, uint32_t **out, size_t *n);
/* Code points -> NUL-terminated UTF-8 (malloc'd, *len bytes if len), or NULL on OOM. */
char *prompt_utf8_encode(const uint32_t *cp, size_t n, size_t *len);

/* Python's float() on a code point string: surrounding whitespace, sign, digits with
 * single underscores between them, inf/infinity/nan. Returns 0 and *out, or -1. */
int prompt_parse_float(const uint32_t *s, size_t n, double *out);

/* Parse a prompt. Returns 0, or -1 with a message in err (invalid UTF-8, nesting deeper
 * than Python's recursion limit lets ComfyUI go, out of memory). */
int prompt_parse(const char *utf8, prompt_segments *out, char *err, size_t errlen);
void prompt_segments_free(prompt_segments *s);

#endif
