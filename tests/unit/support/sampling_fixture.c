/* sampling_fixture.c -- reads F32 tensors from the shared fixture files (tests only).
 *
 * safetensors = u64 little-endian header length, JSON header, raw data. Only what the
 * sampling tests need: look a name up, check it is F32, copy its bytes out.
 */
#include "sampling_fixture.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *shared_path(const char *rel) {
    static char path[4096];
    const char *shared = getenv("SHARED");
    snprintf(path, sizeof path, "%s/%s", shared ? shared : "../shared", rel);
    return path;
}

char *fixture_slurp(const char *file, long *len) {
    char rel[1024];
    snprintf(rel, sizeof rel, "fixtures/sd15/%s", file);
    return shared_slurp(rel, len);
}

char *shared_slurp(const char *rel, long *len) {
    FILE *f = fopen(shared_path(rel), "rb");
    if (!f) return NULL;
    char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = 0;
        if (len) *len = n;
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

float *fixture_f32(const char *file, const char *name, int64_t *numel) {
    long len;
    char *buf = fixture_slurp(file, &len);
    if (!buf || len < 8) { free(buf); return NULL; }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | (uint8_t)buf[i];
    float *out = NULL;
    if (hlen <= (uint64_t)len - 8) {
        cJSON *hdr = cJSON_ParseWithLength(buf + 8, (size_t)hlen);
        cJSON *t = cJSON_GetObjectItemCaseSensitive(hdr, name);
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
        cJSON *off = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
        if (cJSON_IsString(dt) && !strcmp(dt->valuestring, "F32") && cJSON_GetArraySize(off) == 2) {
            uint64_t b = (uint64_t)cJSON_GetArrayItem(off, 0)->valuedouble;
            uint64_t e = (uint64_t)cJSON_GetArrayItem(off, 1)->valuedouble;
            uint64_t base = 8 + hlen;
            if (b <= e && base + e <= (uint64_t)len && (out = malloc(e - b + 1))) {
                memcpy(out, buf + base + b, e - b);
                *numel = (int64_t)((e - b) / 4);
            }
        }
        cJSON_Delete(hdr);
    }
    free(buf);
    return out;
}
