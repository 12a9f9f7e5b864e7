/* tokenizer_unicode.c -- see tokenizer_unicode.h. */
#include "models/tokenizer_unicode.h"
#include "models/prompt_weights.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

int tok_is_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

int tok_is_letter(uint32_t c) {
    if (c > 0x10FFFF) return 0;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_LO;
}

int tok_is_number(uint32_t c) {
    if (c > 0x10FFFF) return 0;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

uint32_t *tok_normalize(const uint32_t *cp, size_t n, size_t *out_n) {
    size_t slen;
    char *s = prompt_utf8_encode(cp, n, &slen);
    if (!s) return NULL;
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t len = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)slen,
                                        &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    free(s);
    if (len < 0) return NULL;
    uint32_t *u;
    size_t m;
    int rc = prompt_utf8_decode((const char *)nfc, (size_t)len, &u, &m);
    free(nfc);
    if (rc) return NULL;
    /* U+0130 is the one code point whose full lowercase is two ("i" + combining dot). */
    size_t extra = 0;
    for (size_t i = 0; i < m; i++) extra += u[i] == 0x130;
    uint32_t *low = malloc((m + extra + 1) * sizeof *low);
    if (!low) { free(u); return NULL; }
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        if (u[i] == 0x130) {
            low[k++] = 'i';
            low[k++] = 0x307;
        } else {
            low[k++] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)u[i]);
        }
    }
    free(u);
    *out_n = k;
    return low;
}
