/* tokenizer_unicode.h -- the Unicode classes and normalisation CLIP's tokenizer relies on.
 *
 * ComfyUI runs transformers' CLIPTokenizer, which (transformers 5) is the `tokenizers`
 * pipeline: NFC, whitespace runs to one space, lowercase (Rust's full mapping per char),
 * then a regex split on \p{L}, \p{N} and \s (Unicode White_Space). These helpers give the
 * same classes through utf8proc.
 */
#ifndef CI_TOKENIZER_UNICODE_H
#define CI_TOKENIZER_UNICODE_H

#include <stddef.h>
#include <stdint.h>

int tok_is_space(uint32_t c);    /* Unicode White_Space */
int tok_is_letter(uint32_t c);   /* \p{L} */
int tok_is_number(uint32_t c);   /* \p{N} */

/* NFC, then lowercase, of n code points. Returns a malloc'd array (*out_n long) or NULL
 * on OOM or when the text cannot be normalised. */
uint32_t *tok_normalize(const uint32_t *cp, size_t n, size_t *out_n);

#endif
