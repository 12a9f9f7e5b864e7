/* clip-encode -- runs CLIPTextEncode on one prompt from the command line, timing it.
 *
 *   clip-encode --ckpt FILE [--tokenizer-dir DIR] [--prompt TEXT] [--clip-skip N]
 *               [--precision fp32|bf16] [--opt 0-3] [--repeat N] [--embeddings DIR]
 *               [--out FILE.safetensors]
 *
 * Prints the chunk count, load time, the median encode time over --repeat runs (wall and
 * CPU seconds: on a busy machine the CPU figure is the steadier one), peak RSS
 * and the statistics of cond; --out saves cond and pooled ("cond", "pooled") for
 * comparison with ComfyUI. The tokenizer is searched as the daemon does when
 * --tokenizer-dir is not given (data directory only: no base directory here).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "backend/backend.h"
#include "io/ckpt.h"
#include "io/safetensors.h"
#include "models/clip_model.h"

static int usage(void) {
    fprintf(stderr, "usage: clip-encode --ckpt FILE [--tokenizer-dir DIR] [--prompt TEXT] "
                    "[--clip-skip N] [--precision fp32|bf16] [--opt 0-3] [--repeat N] "
                    "[--embeddings DIR] [--out FILE.safetensors]\n");
    return 2;
}

static double seconds(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double now(void) { return seconds(CLOCK_MONOTONIC); }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void print_stats(const char *name, const tensor *t) {
    const float *v = t->data;
    int64_t n = tensor_numel(t);
    double sum = 0, sq = 0, lo = v[0], hi = v[0];
    for (int64_t i = 0; i < n; i++) {
        sum += v[i];
        sq += (double)v[i] * v[i];
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    double mean = sum / (double)n;
    printf("%s [", name);
    for (int i = 0; i < t->ndim; i++) printf("%s%lld", i ? "," : "", (long long)t->ne[i]);
    printf("] min %.6f max %.6f mean %.6f std %.6f\n", lo, hi, mean,
           sqrt(fmax(sq / (double)n - mean * mean, 0.0)));
}

int main(int argc, char **argv) {
    const char *ckpt_path = NULL, *tok_dir = NULL, *prompt = "", *out = NULL, *emb = NULL;
    int clip_skip = -1, repeat = 1;
    backend_config cfg = {.accel = ACCEL_CPU, .opt = OPT_O2, .prec = PREC_FP32};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--ckpt")) ckpt_path = v;
        else if (!strcmp(a, "--tokenizer-dir")) tok_dir = v;
        else if (!strcmp(a, "--prompt")) prompt = v;
        else if (!strcmp(a, "--clip-skip")) clip_skip = atoi(v);
        else if (!strcmp(a, "--repeat")) repeat = atoi(v);
        else if (!strcmp(a, "--embeddings")) emb = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--opt") && v[0] >= '0' && v[0] <= '3' && !v[1])
            cfg.opt = (opt_level)(v[0] - '0');
        else if (!strcmp(a, "--precision") && (!strcmp(v, "fp32") || !strcmp(v, "bf16")))
            cfg.prec = !strcmp(v, "bf16") ? PREC_BF16 : PREC_FP32;
        else return usage();
    }
    if (!ckpt_path || argc % 2 == 0 || repeat < 1 || repeat > 1000) return usage();

    char msg[1024], *err = NULL;
    if (backend_init(&cfg, msg, sizeof msg)) {
        fprintf(stderr, "clip-encode: %s\n", msg);
        return 1;
    }
    tokenizer *tok = tokenizer_find("sd1", tok_dir, NULL, NULL, 0, NULL, msg, sizeof msg);
    if (!tok) {
        fprintf(stderr, "clip-encode: %s\n", msg);
        return 1;
    }
    double t0 = now();
    ckpt *c = ckpt_open(ckpt_path, &err);
    clip_model *m = c ? clip_load(c, CLIP_SD1_PREFIX, tok, &err) : NULL;
    if (!m) {
        fprintf(stderr, "clip-encode: %s\n", err ? err : "out of memory");
        return 1;
    }
    ckpt_close(c);   /* the model keeps its own copies */
    double t_load = now() - t0;
    if (emb) clip_set_embedding_dirs(m, &emb, 1);

    double *times = calloc((size_t)repeat, sizeof *times), cpu = 0;
    tensor *cond = NULL, *pooled = NULL;
    for (int r = 0; r < repeat; r++) {
        tensor_free(cond);
        tensor_free(pooled);
        t0 = now();
        double c0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
        if (clip_encode(m, prompt, clip_skip, &cond, &pooled, &err)) {
            fprintf(stderr, "clip-encode: %s\n", err);
            return 1;
        }
        times[r] = now() - t0;
        cpu += seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
    qsort(times, (size_t)repeat, sizeof *times, cmp_double);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("chunks %lld  load %.2f s  encode median %.3f s (min %.3f, %d runs; %.3f CPU s "
           "each)  peak RSS %ld MiB\n", (long long)(cond->ne[1] / 77), t_load,
           times[repeat / 2], times[0], repeat, cpu / repeat, ru.ru_maxrss / 1024);
    print_stats("cond", cond);
    print_stats("pooled", pooled);
    int rc = 0;
    if (out) {
        const char *names[] = {"cond", "pooled"};
        const tensor *ts[] = {cond, pooled};
        if (st_save(out, names, ts, 2, NULL, 0, msg, sizeof msg)) {
            fprintf(stderr, "clip-encode: %s\n", msg);
            rc = 1;
        }
    }
    free(times);
    tensor_free(cond);
    tensor_free(pooled);
    clip_free(m);
    tokenizer_free(tok);
    backend_shutdown();
    return rc;
}
