/* json.h -- cJSON with exact integers and Python-style output.
 *
 * ComfyUI is Python: its integers have no size limit (seeds go up to 2^64-1) and its
 * JSON is printed by Python's json module (", " and ": " separators, floats in repr
 * form such as 8.0 or 1e-05, non-ASCII escaped). cJSON keeps numbers as doubles only,
 * so we keep cJSON for the tree and add one convention: a number item whose
 * `valuestring` is set is an integer, and valuestring is its exact decimal literal
 * (cJSON_Delete and cJSON_Duplicate already free and copy it). A number item without
 * valuestring is a float. json_parse() fills the literals in from the source text and
 * json_print() prints them raw, so no digit is ever lost.
 */
#ifndef CI_JSON_H
#define CI_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

/* Parse len bytes (need not be NUL-terminated). NULL on malformed JSON. */
cJSON *json_parse(const char *text, size_t len);
/* Python json.dumps() text of item; caller frees. */
char *json_print(const cJSON *item);

cJSON *json_new_int(int64_t v);
cJSON *json_new_uint(uint64_t v);
cJSON *json_new_int_literal(const char *digits);   /* "-123", any length */
cJSON *json_new_float(double v);

int json_is_int(const cJSON *item);                 /* an integer number item */
/* 0 and the value when the integer fits, -1 otherwise (or not an integer). */
int json_get_i64(const cJSON *item, int64_t *out);
int json_get_u64(const cJSON *item, uint64_t *out);
/* Numeric comparison of two number items (exact for integers): <0, 0, >0. */
int json_num_cmp(const cJSON *a, const cJSON *b);

/* Python repr of a float into buf (at least 32 bytes): 8.0, 0.01, 1e-05, inf, nan. */
void json_py_float(double v, char *buf);
/* Python str() of a JSON value as ComfyUI formats it in messages (True, None, 1.0,
 * dicts and lists in repr form); caller frees. */
char *json_py_str(const cJSON *item);
/* Python repr of a JSON value ('text' quoted); caller frees. */
char *json_py_repr(const cJSON *item);

/* Small growable string used by the printers and by callers that build messages. */
typedef struct sbuf { char *s; size_t len, cap; int oom; } sbuf;
void sb_putn(sbuf *b, const char *s, size_t n);
void sb_puts(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *sb_take(sbuf *b);   /* the NUL-terminated text (caller frees), or NULL after OOM */

#endif
