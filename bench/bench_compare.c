/* bench_compare.c -- `--compare FILE`: this run against an earlier `--json` output.
 *
 * Cases match by (section, op, shape, dtype); SD figures by name, for the timings
 * (keys ending in "_s"). Each ratio is earlier / now, so above 1 means this run is
 * faster. Cases or figures present on one side only are left out, so runs of different
 * sections or builds still compare on what they share.
 */
#include "bench.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cJSON *read_json(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n + 4096 + 1 > cap && !(buf = realloc(buf, cap = 2 * cap + 4096 + 1))) break;
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    return j;
}

static const char *str_of(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void compare_cases(const cJSON *old, const bench_case *cases, int n, cJSON *out) {
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(old, "results")) {
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(r, "ms");
        for (int i = 0; cJSON_IsNumber(ms) && i < n; i++) {
            const bench_case *c = &cases[i];
            if (strcmp(str_of(r, "section"), c->section) || strcmp(str_of(r, "op"), c->op) ||
                strcmp(str_of(r, "shape"), c->shape) || strcmp(str_of(r, "dtype"), c->dtype) ||
                c->ms <= 0)
                continue;
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "op", c->op);
            cJSON_AddStringToObject(m, "shape", c->shape);
            cJSON_AddStringToObject(m, "dtype", c->dtype);
            cJSON_AddNumberToObject(m, "ratio", ms->valuedouble / c->ms);
            cJSON_AddItemToArray(out, m);
        }
    }
}

static void compare_sd(const cJSON *old, const cJSON *sd, cJSON *out) {
    const cJSON *v;
    cJSON_ArrayForEach(v, sd) {
        size_t len = strlen(v->string);
        const cJSON *was = cJSON_GetObjectItemCaseSensitive(old, v->string);
        if (len > 2 && strcmp(v->string + len - 2, "_s") == 0 && cJSON_IsNumber(was) &&
            v->valuedouble > 0)
            cJSON_AddNumberToObject(out, v->string, was->valuedouble / v->valuedouble);
    }
}

cJSON *bench_compare(const char *path, const bench_case *cases, int n, const cJSON *sd) {
    cJSON *old = read_json(path);
    if (!old) {
        fprintf(stderr, "ipex-benchmark: --compare %s: cannot read it as JSON\n", path);
        return NULL;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "file", path);
    compare_cases(old, cases, n, cJSON_AddArrayToObject(out, "results"));
    const cJSON *osd = cJSON_GetObjectItemCaseSensitive(old, "sd");
    if (sd && osd) compare_sd(osd, sd, cJSON_AddObjectToObject(out, "sd"));
    cJSON_Delete(old);
    return out;
}

void bench_compare_print(const cJSON *cmp) {
    printf("\nagainst %s (earlier / now; above 1: faster now)\n", str_of(cmp, "file"));
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(cmp, "results"))
        printf("  %-12s %-34s %-5s %6.2fx\n", str_of(v, "op"), str_of(v, "shape"), str_of(v, "dtype"),
               cJSON_GetObjectItemCaseSensitive(v, "ratio")->valuedouble);
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(cmp, "sd"))
        printf("  sd %-44s %6.2fx\n", v->string, v->valuedouble);
}
