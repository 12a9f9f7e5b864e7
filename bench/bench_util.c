/* bench_util.c -- timing, the result list, text and JSON output, the PyTorch column.
 *
 * Each call runs with a fresh arena reset (as a model step would); the first call
 * creates primitives and prepares weights and is not timed.
 */
#include "bench.h"
#include "backend/engine.h"
#include "tensor/arena.h"
#include "tensor/pcache.h"

#include <cjson/cJSON.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static bench_case *cases;
static int ncases, capcases;
static arena *bench_arena;
static cJSON *sd_figures;

cJSON *bench_sd_object(void) {
    if (!sd_figures) sd_figures = cJSON_CreateObject();
    return sd_figures;
}

const char *bench_use_precision(const bench_opts *o, precision p) {
    backend_config cfg = {ACCEL_CPU, o->opt, p, o->threads, o->jit};
    char err[256];
    if (backend_init(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "ipex-benchmark: %s\n", err);
        exit(1);
    }
    dtype dt = backend_compute_dt();
    if (backend_int8()) return "int8";
    return dt == DT_BF16 ? "bf16" : dt == DT_F16 ? "fp16" : "fp32";
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_time_ms(const bench_opts *o, void (*fn)(void *ctx), void *ctx) {
    if (!bench_arena) bench_arena = arena_new();
    arena *prev = arena_use(bench_arena);
    arena_reset(bench_arena);
    fn(ctx);   /* warm-up: primitive creation, weight preparation, arena growth */
    enum { MAXT = 1000 };
    static double t[MAXT];
    int n = 0;
    double start = now_ms();
    while (n < MAXT && (n < o->min_iters || now_ms() - start < o->min_seconds * 1e3)) {
        arena_reset(bench_arena);
        double t0 = now_ms();
        fn(ctx);
        t[n++] = now_ms() - t0;
    }
    arena_use(prev);
    qsort(t, (size_t)n, sizeof t[0], cmp_double);
    return t[n / 2];
}

void bench_add(const bench_case *c) {
    if (ncases == capcases) {
        capcases = capcases ? capcases * 2 : 32;
        cases = realloc(cases, (size_t)capcases * sizeof *cases);
        if (!cases) exit(1);
    }
    cases[ncases++] = *c;
    if (!getenv("BENCH_QUIET"))
        fprintf(stderr, "  %-12s %-34s %-5s %9.3f ms\n", c->op, c->shape, c->dtype, c->ms);
}

/* Runs bench/torch_ops.py over all cases (JSON on stdin, one ms per line back). */
static void bench_torch(const bench_opts *o, const char *script) {
    char tmp[] = "/tmp/ipex-bench-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) return;
    FILE *f = fdopen(fd, "w");
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < ncases; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "op", cases[i].op);
        cJSON_AddStringToObject(c, "dtype", cases[i].dtype);
        cJSON *p = cJSON_AddArrayToObject(c, "params");
        for (int j = 0; j < cases[i].nparams; j++)
            cJSON_AddItemToArray(p, cJSON_CreateNumber((double)cases[i].params[j]));
        cJSON_AddItemToArray(arr, c);
    }
    char *text = cJSON_PrintUnformatted(arr);
    fputs(text, f);
    fclose(f);
    free(text);
    cJSON_Delete(arr);
    /* Debian's interpreter holds Debian's torch; another one (a venv) is named by
     * IPEX_BENCH_PYTHON. */
    const char *py = getenv("IPEX_BENCH_PYTHON");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s --threads %d --min-seconds %g < %s", py ? py : "/usr/bin/python3", script,
             o->threads > 0 ? o->threads : omp_get_num_procs(), o->min_seconds, tmp);
    FILE *p = popen(cmd, "r");
    char line[128];
    for (int i = 0; p && i < ncases && fgets(line, sizeof line, p); i++) cases[i].torch_ms = atof(line);
    if (p && pclose(p) != 0) fprintf(stderr, "ipex-benchmark: %s failed; no PyTorch column\n", script);
    unlink(tmp);
}

static double gflops(double flops, double ms) { return ms > 0 && flops > 0 ? flops / ms / 1e6 : 0; }

static void bench_print_text(const bench_opts *o, const cJSON *cmp) {
    uint64_t entries, hits, misses;
    pcache_stats(&entries, &hits, &misses);
    printf("oneDNN %s, isa %s, engine %s, %d threads, O%d; primitive cache %llu entries, "
           "%llu hits, %llu misses\n", backend_onednn_version(), backend_isa(),
           backend_engine_name(), omp_get_max_threads(), (int)o->opt,
           (unsigned long long)entries, (unsigned long long)hits, (unsigned long long)misses);
    const cJSON *v;
    cJSON_ArrayForEach(v, sd_figures) {
        if (cJSON_IsString(v)) printf("sd %-20s %s\n", v->string, v->valuestring);
        else printf("sd %-20s %.4g\n", v->string, cJSON_IsBool(v) ? (double)cJSON_IsTrue(v) : v->valuedouble);
    }
    if (ncases == 0) goto done;
    printf("%-7s %-12s %-34s %-5s %10s %9s", "section", "op", "shape", "dtype", "ms", "GFLOPS");
    if (o->torch) printf(" %12s %12s", "torch ms", "torch GFLOPS");
    printf("\n");
    for (int i = 0; i < ncases; i++) {
        bench_case *c = &cases[i];
        printf("%-7s %-12s %-34s %-5s %10.3f %9.1f", c->section, c->op, c->shape, c->dtype, c->ms,
               gflops(c->flops, c->ms));
        if (o->torch) printf(" %12.3f %12.1f", c->torch_ms, gflops(c->flops, c->torch_ms));
        printf("\n");
    }
done:
    if (cmp) bench_compare_print(cmp);
}

static void bench_print_json(const bench_opts *o, cJSON *cmp) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "onednn", backend_onednn_version());
    cJSON_AddStringToObject(root, "isa", backend_isa());
    cJSON_AddStringToObject(root, "engine", backend_engine_name());
    cJSON_AddNumberToObject(root, "threads", omp_get_max_threads());
    cJSON_AddNumberToObject(root, "opt_level", (int)o->opt);
    uint64_t entries, hits, misses;
    pcache_stats(&entries, &hits, &misses);
    cJSON *pc = cJSON_AddObjectToObject(root, "primitive_cache");
    cJSON_AddNumberToObject(pc, "entries", (double)entries);
    cJSON_AddNumberToObject(pc, "hits", (double)hits);
    cJSON_AddNumberToObject(pc, "misses", (double)misses);
    cJSON *arr = cJSON_AddArrayToObject(root, "results");
    for (int i = 0; i < ncases; i++) {
        bench_case *c = &cases[i];
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "section", c->section);
        cJSON_AddStringToObject(r, "op", c->op);
        cJSON_AddStringToObject(r, "shape", c->shape);
        cJSON_AddStringToObject(r, "dtype", c->dtype);
        cJSON_AddNumberToObject(r, "ms", c->ms);
        cJSON_AddNumberToObject(r, "gflops", gflops(c->flops, c->ms));
        if (o->torch) {
            cJSON_AddNumberToObject(r, "torch_ms", c->torch_ms);
            cJSON_AddNumberToObject(r, "torch_gflops", gflops(c->flops, c->torch_ms));
        }
        cJSON_AddItemToArray(arr, r);
    }
    if (sd_figures) cJSON_AddItemReferenceToObject(root, "sd", sd_figures);
    if (cmp) cJSON_AddItemReferenceToObject(root, "compare", cmp);
    char *text = cJSON_Print(root);
    printf("%s\n", text);
    free(text);
    cJSON_Delete(root);
}

void bench_report(const bench_opts *o, const char *torch_script) {
    if (o->torch && ncases) bench_torch(o, torch_script);
    cJSON *cmp = o->compare ? bench_compare(o->compare, cases, ncases, sd_figures) : NULL;
    if (o->json) bench_print_json(o, cmp);
    else bench_print_text(o, cmp);
    cJSON_Delete(cmp);
    cJSON_Delete(sd_figures);
    sd_figures = NULL;
    free(cases);
    cases = NULL;
    ncases = capcases = 0;
    arena_free(bench_arena);
    bench_arena = NULL;
}
