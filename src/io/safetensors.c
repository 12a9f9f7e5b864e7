/* safetensors.c -- reading and writing .safetensors.
 *
 * Layout: u64 little-endian N, N bytes of UTF-8 JSON, then the data buffer. The JSON
 * maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
 * relative to the data buffer) plus an optional "__metadata__" of string values.
 *
 * The reader trusts nothing: N must fit in the file, the JSON must parse completely
 * (only whitespace may follow), every number must be a non-negative integer, the byte
 * range must equal dtype size x element count, and the ranges sorted by start must
 * tile the data buffer exactly, with no overlap, gap or trailing bytes, as the
 * reference library demands. Errors name the tensor and the numbers that disagree.
 */
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "io/ckpt_internal.h"

#define ST_MAX_HEADER (100u << 20)   /* the reference library's limit */

typedef struct st_range { uint64_t begin, end; const char *name; } st_range;

static uint64_t st_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* A JSON number that is an exact non-negative integer below 2^53. */
static int st_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return -1;
    double d = j->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d) return -1;
    *out = (uint64_t)d;
    return 0;
}

static int st_utf8_ok(const uint8_t *s, size_t len) {
    utf8proc_int32_t cp;
    for (size_t i = 0; i < len;) {
        utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0) return 0;
        i += (size_t)k;
    }
    return 1;
}

static int st_read_meta(ckpt *c, const cJSON *meta, char *err) {
    if (!cJSON_IsObject(meta)) return io_fail(err, "__metadata__ is not a JSON object");
    for (const cJSON *m = meta->child; m; m = m->next) {
        if (!cJSON_IsString(m))
            return io_fail(err, "__metadata__ value of '%s' is not a string", m->string);
        if (ckpt_add_meta(c, m->string, m->valuestring, err)) return -1;
    }
    return 0;
}

/* One tensor entry: checks it and records its byte range (ckpt_add runs later, once
 * the ranges are known to be sound). */
static int st_read_entry(const cJSON *j, uint64_t data_len, dtype *dt, int *ndim,
                         int64_t *ne, st_range *r, char *err) {
    const char *name = j->string;
    if (!cJSON_IsObject(j)) return io_fail(err, "tensor '%s': entry is not a JSON object", name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(j, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(j, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(j, "data_offsets");
    if (!cJSON_IsString(jd) || !cJSON_IsArray(js) || !cJSON_IsArray(jo))
        return io_fail(err, "tensor '%s': needs string \"dtype\", arrays \"shape\" and "
                            "\"data_offsets\"", name);
    if (dtype_from_name(jd->valuestring, dt))
        return io_fail(err, "tensor '%s': unsupported dtype \"%.32s\"", name, jd->valuestring);
    *ndim = cJSON_GetArraySize(js);
    if (*ndim > T_MAX_DIMS)
        return io_fail(err, "tensor '%s' has %d dims; at most %d are supported", name, *ndim,
                       T_MAX_DIMS);
    int i = 0;
    for (const cJSON *d = js->child; d; d = d->next, i++) {
        uint64_t v;
        if (st_uint(d, &v)) return io_fail(err, "tensor '%s': shape[%d] is not a valid size", name, i);
        ne[i] = (int64_t)v;
    }
    if (cJSON_GetArraySize(jo) != 2 || st_uint(jo->child, &r->begin) ||
        st_uint(jo->child->next, &r->end))
        return io_fail(err, "tensor '%s': data_offsets must be two non-negative integers", name);
    if (r->end < r->begin)
        return io_fail(err, "tensor '%s': data_offsets [%llu,%llu] end before they begin", name,
                       (unsigned long long)r->begin, (unsigned long long)r->end);
    if (r->end > data_len)
        return io_fail(err, "tensor '%s': data_offsets [%llu,%llu] lie outside the %llu-byte "
                            "data buffer", name, (unsigned long long)r->begin,
                       (unsigned long long)r->end, (unsigned long long)data_len);
    int64_t want = io_shape_bytes(*dt, *ndim, ne);
    if (want < 0) return io_fail(err, "tensor '%s': shape too large", name);
    if ((uint64_t)want != r->end - r->begin)
        return io_fail(err, "tensor '%s': data_offsets [%llu,%llu] hold %llu bytes but dtype %s "
                            "and its shape need %lld", name, (unsigned long long)r->begin,
                       (unsigned long long)r->end, (unsigned long long)(r->end - r->begin),
                       dtype_name(*dt), (long long)want);
    r->name = name;
    return 0;
}

static int st_range_cmp(const void *a, const void *b) {
    const st_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* The sorted ranges must tile [0, data_len) exactly. */
static int st_check_tiling(st_range *r, size_t n, uint64_t data_len, char *err) {
    qsort(r, n, sizeof *r, st_range_cmp);
    uint64_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[i].begin < at)
            return io_fail(err, "tensors '%s' and '%s' overlap (byte %llu)", r[i - 1].name,
                           r[i].name, (unsigned long long)r[i].begin);
        if (r[i].begin > at)
            return io_fail(err, "%llu unused bytes before tensor '%s' in the data buffer",
                           (unsigned long long)(r[i].begin - at), r[i].name);
        at = r[i].end;
    }
    if (at != data_len)
        return io_fail(err, "%llu bytes after the last tensor are not described by the header",
                       (unsigned long long)(data_len - at));
    return 0;
}

static int st_read_json(ckpt *c, const cJSON *root, const uint8_t *data, uint64_t data_len,
                        char *err) {
    int n = 0;
    for (const cJSON *j = root->child; j; j = j->next) n++;
    st_range *r = malloc((size_t)(n ? n : 1) * sizeof *r);
    if (!r) return io_fail(err, "out of memory");
    int rc = 0, k = 0;
    for (const cJSON *j = root->child; j && !rc; j = j->next) {
        if (strcmp(j->string, "__metadata__") == 0) { rc = st_read_meta(c, j, err); continue; }
        dtype dt;
        int ndim;
        int64_t ne[T_MAX_DIMS];
        rc = st_read_entry(j, data_len, &dt, &ndim, ne, &r[k++], err);
    }
    if (!rc) rc = st_check_tiling(r, (size_t)k, data_len, err);
    free(r);
    /* Sound: add the tensors in header order (a second, cheap pass over checked JSON). */
    for (const cJSON *j = root->child; j && !rc; j = j->next) {
        if (strcmp(j->string, "__metadata__") == 0) continue;
        dtype dt;
        int ndim;
        int64_t ne[T_MAX_DIMS];
        st_range one;
        rc = st_read_entry(j, data_len, &dt, &ndim, ne, &one, err);
        if (!rc) rc = ckpt_add(c, j->string, dt, ndim, ne, data + one.begin, err);
    }
    return rc;
}

int st_read(ckpt *c, const uint8_t *buf, size_t len, char *err) {
    if (len < 8)
        return io_fail(err, "%zu bytes is too short for a safetensors file (8-byte header "
                            "length)", len);
    uint64_t hlen = st_le64(buf);
    if (hlen > len - 8)
        return io_fail(err, "safetensors header length %llu runs past the end of the file "
                            "(%zu bytes)", (unsigned long long)hlen, len);
    if (hlen > ST_MAX_HEADER)
        return io_fail(err, "safetensors header of %llu bytes exceeds the %u-byte limit",
                       (unsigned long long)hlen, ST_MAX_HEADER);
    const uint8_t *h = buf + 8;
    if (hlen < 2 || h[0] != '{')
        return io_fail(err, "not a safetensors file: the header does not start with '{'");
    if (!st_utf8_ok(h, hlen)) return io_fail(err, "safetensors header is not valid UTF-8");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)h, hlen, &end, 0);
    if (!root) {
        size_t at = end && end >= (const char *)h ? (size_t)(end - (const char *)h) : 0;
        return io_fail(err, "safetensors header is not valid JSON (near byte %zu)", at);
    }
    int rc = 0;
    for (const char *p = end; p < (const char *)h + hlen && !rc; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            rc = io_fail(err, "safetensors header has data after its JSON (byte %zu)",
                         (size_t)(p - (const char *)h));
    if (!rc && !cJSON_IsObject(root)) rc = io_fail(err, "safetensors header is not a JSON object");
    if (!rc) rc = st_read_json(c, root, h + hlen, len - 8 - hlen, err);
    cJSON_Delete(root);
    return rc;
}

/* ---- writer ---------------------------------------------------------------------- */

typedef struct st_buf { char *p; size_t n, cap; int oom; } st_buf;

static void st_put(st_buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 4096) + n;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void st_puts(st_buf *b, const char *s) { st_put(b, s, strlen(s)); }

static void st_put_json_string(st_buf *b, const char *s) {
    st_puts(b, "\"");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        char esc[8];
        if (ch == '"' || ch == '\\') { esc[0] = '\\'; esc[1] = (char)ch; st_put(b, esc, 2); }
        else if (ch < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", ch); st_puts(b, esc); }
        else st_put(b, (const char *)&ch, 1);
    }
    st_puts(b, "\"");
}

uint8_t *st_header(const st_item *items, size_t n, const char *const *meta, size_t nmeta,
                   size_t *len) {
    st_buf b = {0};
    char num[64];
    st_put(&b, "\0\0\0\0\0\0\0\0{", 9);
    if (nmeta) {
        st_puts(&b, "\"__metadata__\":{");
        for (size_t i = 0; i < nmeta; i++) {
            if (i) st_puts(&b, ",");
            st_put_json_string(&b, meta[2 * i]);
            st_puts(&b, ":");
            st_put_json_string(&b, meta[2 * i + 1]);
        }
        st_puts(&b, "}");
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const st_item *it = &items[i];
        if (i || nmeta) st_puts(&b, ",");
        st_put_json_string(&b, it->name);
        st_puts(&b, ":{\"dtype\":\"");
        st_puts(&b, dtype_name(it->dt));
        int64_t nbytes = it->ndim <= 8 ? io_shape_bytes(it->dt, it->ndim, it->ne) : -1;
        if (nbytes < 0) { free(b.p); return NULL; }
        st_puts(&b, "\",\"shape\":[");
        for (int d = 0; d < it->ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)it->ne[d]);
            st_puts(&b, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                 (unsigned long long)(off + (uint64_t)nbytes));
        st_puts(&b, num);
        off += (uint64_t)nbytes;
    }
    st_puts(&b, "}");
    while (b.n % 8) st_puts(&b, " ");
    if (b.oom) { free(b.p); return NULL; }
    uint64_t hlen = b.n - 8;
    for (int i = 0; i < 8; i++) b.p[i] = (char)(hlen >> (8 * i));
    *len = b.n;
    return (uint8_t *)b.p;
}

int st_save(const char *path, const char *const *names, const tensor *const *ts, size_t n,
            const char *const *meta, size_t nmeta, char *err, size_t errlen) {
    st_item *items = calloc(n ? n : 1, sizeof *items);
    if (!items) { snprintf(err, errlen, "out of memory"); return -1; }
    for (size_t i = 0; i < n; i++) {
        items[i].name = names[i];
        items[i].dt = ts[i]->dt;
        items[i].ndim = ts[i]->ndim;
        memcpy(items[i].ne, ts[i]->ne, sizeof ts[i]->ne);
    }
    size_t hlen;
    uint8_t *h = st_header(items, n, meta, nmeta, &hlen);
    free(items);
    if (!h) { snprintf(err, errlen, "%s: cannot build the header (out of memory?)", path); return -1; }
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(h, 1, hlen, f) == hlen;
    for (size_t i = 0; ok && i < n; i++)
        ok = fwrite(ts[i]->data, 1, ts[i]->nbytes, f) == ts[i]->nbytes;
    if (f && fclose(f) != 0) ok = 0;
    free(h);
    if (!ok) { snprintf(err, errlen, "%s: write failed", path); return -1; }
    return 0;
}
