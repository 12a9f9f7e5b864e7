/* synth.c -- see synth.h.
 *
 * Element i of tensor K: state_i = (S ^ FNV1a64(K)) + (i + 1) * golden (mod 2^64),
 * z = splitmix64 finaliser of state_i, u = top 53 bits / 2^53, r = 2u - 1, and the
 * value is r scaled by the tensor's rule, rounded to f32 and then to the stored dtype.
 * Because state_i has a closed form, any slice of a tensor is computed directly,
 * which lets OpenMP split large tensors and synth_write stream them in chunks.
 */
#include "io/synth.h"

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/f8.h"
#include "tensor/half.h"

#define SYNTH_GOLDEN 0x9E3779B97F4A7C15ULL
#define SYNTH_CHUNK  (4u << 20)            /* elements per streamed chunk */

static uint64_t synth_fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    return h;
}

static double synth_r(uint64_t state) {
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z = z ^ (z >> 31);
    return 2.0 * ((double)(z >> 11) * 0x1p-53) - 1.0;
}

/* The value rule: weights (n >= 2) scaled by sqrt(3 / fan_in), norm scales
 * 1 + r/16, biases r/64. A 0-d tensor counts as 1-d. */
typedef enum { RULE_WEIGHT, RULE_NORM, RULE_BIAS } synth_rule;

static synth_rule synth_rule_of(const st_item *it, double *scale) {
    if (it->ndim >= 2) {
        double fan_in = 1;
        for (int d = 1; d < it->ndim; d++) fan_in *= (double)it->ne[d];
        *scale = sqrt(3.0 / fan_in);
        return RULE_WEIGHT;
    }
    size_t n = strlen(it->name);
    return n >= 7 && strcmp(it->name + n - 7, ".weight") == 0 ? RULE_NORM : RULE_BIAS;
}

static void synth_store(dtype dt, float v, void *out, uint64_t j) {
    switch (dt) {
    case DT_F32: ((float *)out)[j] = v; break;
    case DT_F64: ((double *)out)[j] = v; break;
    case DT_F16: ((uint16_t *)out)[j] = f32_to_half(v); break;
    case DT_BF16: ((uint16_t *)out)[j] = f32_to_bf16(v); break;
    case DT_F8_E4M3: ((uint8_t *)out)[j] = f8_from_f32_e4m3(v); break;
    default: ((uint8_t *)out)[j] = f8_from_f32_e5m2(v); break;
    }
}

/* Integer tensors hold each element's index along the last axis, cast like NumPy's
 * astype (two's complement wrap). */
static void synth_fill_int(const st_item *it, uint64_t begin, uint64_t count, void *out) {
    uint64_t last = it->ndim ? (uint64_t)it->ne[it->ndim - 1] : 1;
    for (uint64_t j = 0; j < count; j++) {
        int64_t v = (int64_t)((begin + j) % (last ? last : 1));
        switch (it->dt) {
        case DT_I64: ((int64_t *)out)[j] = v; break;
        case DT_I32: ((int32_t *)out)[j] = (int32_t)v; break;
        case DT_I16: ((int16_t *)out)[j] = (int16_t)v; break;
        case DT_I8: ((int8_t *)out)[j] = (int8_t)v; break;
        default: ((uint8_t *)out)[j] = (uint8_t)v; break;
        }
    }
}

int synth_fill(const st_item *it, uint64_t seed, uint64_t begin, uint64_t count, void *out) {
    switch (it->dt) {
    case DT_BOOL: return -1;
    case DT_I64: case DT_I32: case DT_I16: case DT_I8: case DT_U8:
        synth_fill_int(it, begin, count, out);
        return 0;
    default: break;
    }
    double scale = 0;
    synth_rule rule = synth_rule_of(it, &scale);
    uint64_t base = seed ^ synth_fnv1a(it->name);
    dtype dt = it->dt;
    #pragma omp parallel for schedule(static) if (count > 65536)
    for (uint64_t j = 0; j < count; j++) {
        double r = synth_r(base + (begin + j + 1) * SYNTH_GOLDEN);
        double v = rule == RULE_WEIGHT ? r * scale : rule == RULE_NORM ? 1.0 + r / 16 : r / 64;
        synth_store(dt, (float)v, out, j);
    }
    return 0;
}

/* Splits one line in place: it->name points into `line`. */
static int synth_parse_line(char *line, st_item *it, char *err, size_t errlen, size_t lineno) {
    char *tab1 = strchr(line, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
    if (!tab2) { snprintf(err, errlen, "line %zu: expected name<TAB>dtype<TAB>dims", lineno); return -1; }
    *tab1 = *tab2 = 0;
    if (dtype_from_name(tab1 + 1, &it->dt)) {
        snprintf(err, errlen, "line %zu: unknown dtype '%.32s'", lineno, tab1 + 1);
        return -1;
    }
    it->ndim = 0;
    for (char *p = tab2 + 1; *p;) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || errno || it->ndim == 8 || (*end && *end != ',')) {
            snprintf(err, errlen, "line %zu: bad dims '%.64s'", lineno, tab2 + 1);
            return -1;
        }
        it->ne[it->ndim++] = v;
        p = *end ? end + 1 : end;
    }
    it->name = line;
    return 0;
}

int synth_keys_add(synth_keys *k, const char *name, dtype dt, int ndim, const int64_t *ne) {
    if (ndim < 0 || ndim > 8) return -1;
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 256;
        st_item *p = realloc(k->items, cap * sizeof *p);
        if (!p) return -1;
        k->items = p;
        k->cap = cap;
    }
    st_item *it = &k->items[k->n];
    memset(it, 0, sizeof *it);
    if (!(it->name = strdup(name))) return -1;
    it->dt = dt;
    it->ndim = ndim;
    for (int d = 0; d < ndim; d++) it->ne[d] = ne[d];
    k->n++;
    return 0;
}

int synth_keys_load(const char *path, synth_keys *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) { snprintf(err, errlen, "%s: %s", path, strerror(errno)); return -1; }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int rc = 0;
    while (!rc && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len || line[0] == '#') continue;
        st_item it;
        rc = synth_parse_line(line, &it, err, errlen, lineno);
        if (!rc && (rc = synth_keys_add(out, it.name, it.dt, it.ndim, it.ne)))
            snprintf(err, errlen, "out of memory");
    }
    free(line);
    fclose(f);
    if (rc) synth_keys_free(out);
    return rc;
}

/* Position in safetensors' Dtype enum (BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16,
 * BF16, I32, U32, F32, F64, I64, U64): its serializer sorts by it, descending. */
static int synth_dtype_rank(dtype dt) {
    static const int rank[DT_COUNT] = {
        [DT_BOOL] = 0, [DT_U8] = 1, [DT_I8] = 2, [DT_F8_E5M2] = 3, [DT_F8_E4M3] = 4,
        [DT_I16] = 5, [DT_F16] = 7, [DT_BF16] = 8, [DT_I32] = 9, [DT_F32] = 11,
        [DT_F64] = 12, [DT_I64] = 13,
    };
    return rank[dt];
}

static int synth_item_cmp(const void *a, const void *b) {
    const st_item *x = a, *y = b;
    int rx = synth_dtype_rank(x->dt), ry = synth_dtype_rank(y->dt);
    if (rx != ry) return ry - rx;
    return strcmp(x->name, y->name);   /* compares as unsigned char: byte order */
}

void synth_keys_sort(synth_keys *k) {
    if (k->n) qsort(k->items, k->n, sizeof *k->items, synth_item_cmp);
}

void synth_keys_free(synth_keys *k) {
    for (size_t i = 0; i < k->n; i++) free((char *)k->items[i].name);
    free(k->items);
    memset(k, 0, sizeof *k);
}

/* Streams one tensor: fill a chunk, hash it, write it (f NULL: hash only). */
static int synth_write_tensor(const st_item *it, uint64_t seed, FILE *f, EVP_MD_CTX *md,
                              uint8_t *buf) {
    uint64_t numel = 1;
    for (int d = 0; d < it->ndim; d++) numel *= (uint64_t)it->ne[d];
    size_t es = dtype_size(it->dt);
    for (uint64_t at = 0; at < numel; at += SYNTH_CHUNK) {
        uint64_t n = numel - at < SYNTH_CHUNK ? numel - at : SYNTH_CHUNK;
        if (synth_fill(it, seed, at, n, buf)) return -1;
        if (md && !EVP_DigestUpdate(md, buf, n * es)) return -1;
        if (f && fwrite(buf, es, n, f) != n) return -1;
    }
    return 0;
}

int synth_write(const synth_keys *k, uint64_t seed, const char *path, uint8_t sha256[32],
                char *err, size_t errlen) {
    for (size_t i = 0; i < k->n; i++)
        if (k->items[i].dt == DT_BOOL) {
            snprintf(err, errlen, "%s: synthetic-ckpt v1 defines no values for BOOL",
                     k->items[i].name);
            return -1;
        }
    char seedstr[32];
    snprintf(seedstr, sizeof seedstr, "%llu", (unsigned long long)seed);
    const char *meta[] = {"format", "pt", "synthetic", "synthetic-ckpt v1", "seed", seedstr};
    size_t hlen;
    uint8_t *h = st_header(k->items, k->n, meta, 3, &hlen);
    uint8_t *buf = malloc(SYNTH_CHUNK * 8);
    EVP_MD_CTX *md = sha256 ? EVP_MD_CTX_new() : NULL;
    FILE *f = h && buf && path ? fopen(path, "wb") : NULL;
    int ok = (f || (!path && sha256)) && h && buf &&
             (!sha256 || (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
                          EVP_DigestUpdate(md, h, hlen)));
    ok = ok && (!f || fwrite(h, 1, hlen, f) == hlen);
    for (size_t i = 0; ok && i < k->n; i++) ok = synth_write_tensor(&k->items[i], seed, f, md, buf) == 0;
    if (f && fclose(f) != 0) ok = 0;
    if (ok && md) ok = EVP_DigestFinal_ex(md, sha256, NULL) == 1;
    if (!ok) snprintf(err, errlen, "%s: cannot write: %s", path ? path : "(hash only)",
                      strerror(errno));
    EVP_MD_CTX_free(md);
    free(buf);
    free(h);
    return ok ? 0 : -1;
}
