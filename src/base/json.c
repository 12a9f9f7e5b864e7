/* json.c -- exact integers over cJSON, Python-style printing.
 *
 * Parsing: cJSON builds the tree; a second pass walks the source text token by token
 * and hands every integer literal, in text order, to the number items in depth-first
 * order (the same order), storing it in valuestring. Printing is our own, because
 * Python's separators, float repr and \uXXXX escapes differ from cJSON's.
 */
#include "base/json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- growable string ---------------------------------------------------------- */

void sb_putn(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) { b->oom = 1; return; }
        b->s = p; b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

void sb_printf(sbuf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) { sb_putn(b, small, (size_t)n); return; }
    char *big = malloc((size_t)n + 1);
    if (!big) { b->oom = 1; return; }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_putn(b, big, (size_t)n);
    free(big);
}

char *sb_take(sbuf *b) {
    if (b->oom) { free(b->s); b->s = NULL; return NULL; }
    if (!b->s) sb_putn(b, "", 0);
    char *s = b->s;
    b->s = NULL; b->len = b->cap = 0;
    return s;
}

/* ---- parsing ------------------------------------------------------------------ */

typedef struct { const char *p, *end; } scan;

/* Next number token in the text, skipping strings; integer literals are returned
 * through lit (NULL for floats). Returns 0 when no number is left. */
static int scan_number(scan *s, const char **lit, size_t *litlen) {
    while (s->p < s->end) {
        char c = *s->p;
        if (c == '"') {
            for (s->p++; s->p < s->end && *s->p != '"'; s->p++)
                if (*s->p == '\\') s->p++;
            s->p++;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            const char *start = s->p;
            int is_int = 1;
            while (s->p < s->end && strchr("+-0123456789.eE", *s->p)) {
                if (strchr(".eE", *s->p)) is_int = 0;
                s->p++;
            }
            *lit = is_int ? start : NULL;
            *litlen = (size_t)(s->p - start);
            return 1;
        } else {
            s->p++;
        }
    }
    return 0;
}

static int attach_literals(cJSON *item, scan *s) {
    for (; item; item = item->next) {
        if (cJSON_IsNumber(item)) {
            const char *lit; size_t n;
            if (!scan_number(s, &lit, &n)) return -1;
            if (lit) {
                if (n == 2 && lit[0] == '-' && lit[1] == '0') { lit++; n--; }  /* int("-0") == 0 */
                item->valuestring = strndup(lit, n);
                if (!item->valuestring) return -1;
            }
        } else if (item->child && attach_literals(item->child, s) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Python's dict keeps the last value of a repeated key, at the first key's place. */
static void dedupe_keys(cJSON *item) {
    for (; item; item = item->next) {
        if (cJSON_IsObject(item)) {
            for (cJSON *a = item->child; a; a = a->next)
                for (cJSON *b = a->next, *next; b; b = next) {
                    next = b->next;
                    if (!a->string || !b->string || strcmp(a->string, b->string)) continue;
                    cJSON_DetachItemViaPointer(item, b);
                    cJSON_ReplaceItemViaPointer(item, a, b);
                    a = b;
                }
        }
        if (item->child) dedupe_keys(item->child);
    }
}

cJSON *json_parse(const char *text, size_t len) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) return NULL;
    /* cJSON stops after the first value; trailing non-space bytes make it invalid. */
    for (; end && end < text + len; end++)
        if (!strchr(" \t\r\n", *end) && *end != 0) { cJSON_Delete(root); return NULL; }
    scan s = { text, text + len };
    if (attach_literals(root, &s) < 0) { cJSON_Delete(root); return NULL; }
    dedupe_keys(root);
    return root;
}

/* ---- numbers ------------------------------------------------------------------ */

cJSON *json_new_int_literal(const char *digits) {
    cJSON *n = cJSON_CreateNumber(strtod(digits, NULL));
    if (!n) return NULL;
    n->valuestring = strdup(digits);
    if (!n->valuestring) { cJSON_Delete(n); return NULL; }
    return n;
}

cJSON *json_new_int(int64_t v) {
    char b[24];
    snprintf(b, sizeof b, "%lld", (long long)v);
    return json_new_int_literal(b);
}

cJSON *json_new_uint(uint64_t v) {
    char b[24];
    snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    return json_new_int_literal(b);
}

cJSON *json_new_float(double v) { return cJSON_CreateNumber(v); }

int json_is_int(const cJSON *item) {
    return cJSON_IsNumber(item) && item->valuestring != NULL;
}

int json_get_u64(const cJSON *item, uint64_t *out) {
    if (!json_is_int(item) || item->valuestring[0] == '-') return -1;
    const char *d = item->valuestring;
    if (strlen(d) > 20) return -1;
    uint64_t v = 0;
    for (; *d; d++) {
        uint64_t x = (uint64_t)(*d - '0');
        if (v > (UINT64_MAX - x) / 10) return -1;
        v = v * 10 + x;
    }
    *out = v;
    return 0;
}

int json_get_i64(const cJSON *item, int64_t *out) {
    if (!json_is_int(item)) return -1;
    int neg = item->valuestring[0] == '-';
    cJSON tmp = *item;
    tmp.valuestring = item->valuestring + neg;
    uint64_t mag;
    if (json_get_u64(&tmp, &mag) < 0) return -1;
    if (!neg && mag > (uint64_t)INT64_MAX) return -1;
    if (neg && mag > (uint64_t)INT64_MAX + 1) return -1;
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

/* Compare two decimal integer literals exactly (any length). */
static int int_literal_cmp(const char *a, const char *b) {
    int na = a[0] == '-', nb = b[0] == '-';
    if (na != nb) return na ? -1 : 1;
    a += na; b += nb;
    size_t la = strlen(a), lb = strlen(b);
    int mag = la != lb ? (la < lb ? -1 : 1) : strcmp(a, b);
    if (mag > 0) mag = 1;
    if (mag < 0) mag = -1;
    return na ? -mag : mag;
}

int json_num_cmp(const cJSON *a, const cJSON *b) {
    if (json_is_int(a) && json_is_int(b)) return int_literal_cmp(a->valuestring, b->valuestring);
    double x = a->valuedouble, y = b->valuedouble;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* Python's float repr: shortest digits that round-trip; scientific notation when the
 * decimal exponent is < -4 or >= 16. */
void json_py_float(double v, char *buf) {
    if (isnan(v)) { strcpy(buf, "NaN"); return; }
    if (isinf(v)) { strcpy(buf, v > 0 ? "Infinity" : "-Infinity"); return; }
    char e[40];
    int prec;
    for (prec = 0; prec < 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec, v);
        if (strtod(e, NULL) == v) break;
    }
    /* e = [-]d[.ddd]e[+-]XX: split into sign, digits, exponent */
    const char *p = e;
    int neg = *p == '-';
    p += neg;
    char digits[24];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    digits[nd] = 0;
    int exp10 = atoi(p + 1);                 /* value = d.ddd * 10^exp10 */
    char *o = buf;
    if (neg) *o++ = '-';
    if (exp10 < -4 || exp10 >= 16) {
        *o++ = digits[0];
        if (nd > 1) { *o++ = '.'; memcpy(o, digits + 1, (size_t)nd - 1); o += nd - 1; }
        sprintf(o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
        return;
    }
    if (exp10 < 0) {
        *o++ = '0'; *o++ = '.';
        for (int i = -1; i > exp10; i--) *o++ = '0';
        memcpy(o, digits, (size_t)nd); o += nd;
    } else {
        for (int i = 0; i <= exp10; i++) *o++ = i < nd ? digits[i] : '0';
        *o++ = '.';
        if (nd > exp10 + 1) { memcpy(o, digits + exp10 + 1, (size_t)(nd - exp10 - 1)); o += nd - exp10 - 1; }
        else *o++ = '0';
    }
    *o = 0;
}

/* ---- printing ----------------------------------------------------------------- */

/* Decode one UTF-8 sequence; invalid bytes decode as themselves (Latin-1). */
static unsigned utf8_next(const unsigned char **p) {
    const unsigned char *s = *p;
    unsigned c = s[0];
    int n = c >= 0xF0 && c < 0xF8 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    if (c < 0x80 || c >= 0xF8) { *p = s + 1; return c; }
    for (int i = 1; i <= n; i++)
        if ((s[i] & 0xC0) != 0x80) { *p = s + 1; return c; }
    unsigned v = c & (0x3F >> n);
    for (int i = 1; i <= n; i++) v = (v << 6) | (s[i] & 0x3F);
    *p = s + n + 1;
    return v;
}

static void print_string(sbuf *b, const char *str) {
    sb_putn(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)str;
    while (*p) {
        unsigned c = utf8_next(&p);
        switch (c) {
        case '"': sb_puts(b, "\\\""); break;
        case '\\': sb_puts(b, "\\\\"); break;
        case '\n': sb_puts(b, "\\n"); break;
        case '\r': sb_puts(b, "\\r"); break;
        case '\t': sb_puts(b, "\\t"); break;
        case '\b': sb_puts(b, "\\b"); break;
        case '\f': sb_puts(b, "\\f"); break;
        default:
            if (c >= 0x20 && c < 0x7F) { char ch = (char)c; sb_putn(b, &ch, 1); }
            else if (c < 0x10000) sb_printf(b, "\\u%04x", c);
            else { c -= 0x10000; sb_printf(b, "\\u%04x\\u%04x", 0xD800 + (c >> 10), 0xDC00 + (c & 0x3FF)); }
        }
    }
    sb_putn(b, "\"", 1);
}

static void print_value(sbuf *b, const cJSON *it) {
    char num[40];
    if (!it || cJSON_IsNull(it)) { sb_puts(b, "null"); return; }
    if (cJSON_IsFalse(it)) { sb_puts(b, "false"); return; }
    if (cJSON_IsTrue(it)) { sb_puts(b, "true"); return; }
    if (cJSON_IsNumber(it)) {
        if (it->valuestring) sb_puts(b, it->valuestring);
        else { json_py_float(it->valuedouble, num); sb_puts(b, num); }
        return;
    }
    if (cJSON_IsString(it)) { print_string(b, it->valuestring ? it->valuestring : ""); return; }
    if (cJSON_IsRaw(it)) { sb_puts(b, it->valuestring ? it->valuestring : "null"); return; }
    int obj = cJSON_IsObject(it);
    sb_puts(b, obj ? "{" : "[");
    for (const cJSON *c = it->child; c; c = c->next) {
        if (obj) { print_string(b, c->string ? c->string : ""); sb_puts(b, ": "); }
        print_value(b, c);
        if (c->next) sb_puts(b, ", ");
    }
    sb_puts(b, obj ? "}" : "]");
}

char *json_print(const cJSON *item) {
    sbuf b = {0};
    print_value(&b, item);
    return sb_take(&b);
}

/* ---- Python str()/repr() for messages --------------------------------------------- */

static void py_repr_string(sbuf *b, const char *s) {
    char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
    sb_putn(b, &q, 1);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        const unsigned char *start = p;
        unsigned c = utf8_next(&p);
        if (c == (unsigned)q || c == '\\') { sb_putn(b, "\\", 1); sb_putn(b, (const char *)start, 1); }
        else if (c == '\n') sb_puts(b, "\\n");
        else if (c == '\r') sb_puts(b, "\\r");
        else if (c == '\t') sb_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7F) sb_printf(b, "\\x%02x", c);
        else sb_putn(b, (const char *)start, (size_t)(p - start));
    }
    sb_putn(b, &q, 1);
}

static void py_value(sbuf *b, const cJSON *it, int repr) {
    char num[40];
    if (!it || cJSON_IsNull(it)) sb_puts(b, "None");
    else if (cJSON_IsFalse(it)) sb_puts(b, "False");
    else if (cJSON_IsTrue(it)) sb_puts(b, "True");
    else if (cJSON_IsNumber(it)) {
        if (it->valuestring) sb_puts(b, it->valuestring);
        else {
            json_py_float(it->valuedouble, num);
            sb_puts(b, !strcmp(num, "NaN") ? "nan" : !strcmp(num, "Infinity") ? "inf"
                       : !strcmp(num, "-Infinity") ? "-inf" : num);
        }
    } else if (cJSON_IsString(it)) {
        if (repr) py_repr_string(b, it->valuestring);
        else sb_puts(b, it->valuestring);
    } else {
        int obj = cJSON_IsObject(it);
        sb_puts(b, obj ? "{" : "[");
        for (const cJSON *c = it->child; c; c = c->next) {
            if (obj) { py_repr_string(b, c->string ? c->string : ""); sb_puts(b, ": "); }
            py_value(b, c, 1);
            if (c->next) sb_puts(b, ", ");
        }
        sb_puts(b, obj ? "}" : "]");
    }
}

char *json_py_str(const cJSON *item) {
    sbuf b = {0};
    py_value(&b, item, 0);
    return sb_take(&b);
}

char *json_py_repr(const cJSON *item) {
    sbuf b = {0};
    py_value(&b, item, 1);
    return sb_take(&b);
}
