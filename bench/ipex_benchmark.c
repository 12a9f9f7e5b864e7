/* ipex_benchmark.c -- ipex-benchmark: GFLOPS of our kernels and SD1.5 end to end,
 * optionally next to PyTorch.
 *
 *   ipex-benchmark [--tensor-only | --conv-only | --sd-only] [--quick] [--json] [--torch]
 *                  [--compare FILE] [--opt-level N] [--precision P] [--threads N]
 *                  [--min-seconds S] [--iters N]
 *                  [--ckpt FILE] [--tokenizer-dir DIR] [--size PX] [--steps N] [--batch N]
 *                  [--skip-full] [--jit] [--accuracy]
 *
 * The program is a table of sections, each selected by its own --NAME-only flag and
 * all run when none is given (the SD section then only when its checkpoint exists).
 * --quick keeps every section but times one call per case and runs SD at 128x128 with
 * 4 steps, so the whole program finishes in about a minute on two cores.
 */
#include "bench.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct bench_section {
    const char *flag;                      /* --FLAG selects only this section */
    int (*run)(const bench_opts *o);
} bench_section;

static const bench_section sections[] = {
    {"--tensor-only", bench_section_tensor},
    {"--conv-only", bench_section_conv},
    {"--sd-only", bench_section_sd},
};
#define NSECTIONS (int)(sizeof sections / sizeof sections[0])

/* The first of two paths that exists (the source tree's, then the installed one). */
static const char *first_existing(const char *a, const char *b) {
    return access(a, R_OK) == 0 || access(b, R_OK) != 0 ? a : b;
}

static const char *torch_script(void) {
    return first_existing("bench/torch_ops.py", CI_DATADIR "/bench/torch_ops.py");
}

static int parse_precision(const char *v, precision *p) {
    static const char *names[] = {"fp32", "fp16", "bf16", "int8"};   /* backend.h order */
    for (int i = 0; v && i < 4; i++)
        if (strcmp(v, names[i]) == 0) return *p = (precision)i, 0;
    return -1;
}

static int positive(const char *v) { return v && atoi(v) > 0; }

static void usage(FILE *f) {
    fprintf(f, "usage: ipex-benchmark [--tensor-only | --conv-only | --sd-only] [--quick] [--json]\n"
               "                      [--torch] [--compare FILE] [--opt-level 0-3]\n"
               "                      [--precision fp32|bf16|fp16|int8] [--threads N]\n"
               "                      [--min-seconds S] [--iters N] [--ckpt FILE]\n"
               "                      [--tokenizer-dir DIR] [--size PX] [--steps N] [--batch N]\n"
               "                      [--skip-full] [--jit] [--accuracy]\n");
}

int main(int argc, char **argv) {
    bench_opts o = {.opt = OPT_O2, .min_seconds = 0.5, .min_iters = 3, .prec = PREC_FP32,
                    .ckpt = "build/sd15-synth.safetensors",
                    .tok_dir = first_existing("../shared/tokenizer/sd1", CI_DATADIR "/tokenizers/sd1"),
                    .size = 512, .steps = 20, .batch = 1};
    int only[NSECTIONS] = {0}, any_only = 0, quick = 0, size_set = 0, steps_set = 0, iters_set = 0;
    log_set_level(LOG_LVL_WARN);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int matched = 0;
        for (int s = 0; s < NSECTIONS; s++)
            if (strcmp(a, sections[s].flag) == 0) only[s] = any_only = matched = 1;
        if (matched) continue;
        if (strcmp(a, "--json") == 0) {
            o.json = 1;
        } else if (strcmp(a, "--torch") == 0) {
            o.torch = 1;
        } else if (strcmp(a, "--opt-level") == 0 && v && atoi(v) >= 0 && atoi(v) <= 3) {
            o.opt = (opt_level)atoi(argv[++i]);
        } else if (strcmp(a, "--threads") == 0 && v && atoi(v) >= 0) {
            o.threads = atoi(argv[++i]);
        } else if (strcmp(a, "--min-seconds") == 0 && v && atof(v) >= 0) {
            o.min_seconds = atof(argv[++i]);
        } else if (strcmp(a, "--iters") == 0 && positive(v)) {
            o.min_iters = atoi(argv[++i]);
            iters_set = 1;
        } else if (strcmp(a, "--precision") == 0 && parse_precision(v, &o.prec) == 0) {
            i++;
        } else if (strcmp(a, "--compare") == 0 && v) {
            o.compare = argv[++i];
        } else if (strcmp(a, "--ckpt") == 0 && v) {
            o.ckpt = argv[++i];
        } else if (strcmp(a, "--tokenizer-dir") == 0 && v) {
            o.tok_dir = argv[++i];
        } else if (strcmp(a, "--size") == 0 && positive(v) && atoi(v) % 8 == 0) {
            o.size = atoi(argv[++i]);
            size_set = 1;
        } else if (strcmp(a, "--steps") == 0 && positive(v)) {
            o.steps = atoi(argv[++i]);
            steps_set = 1;
        } else if (strcmp(a, "--batch") == 0 && positive(v) && atoi(v) <= 64) {
            o.batch = atoi(argv[++i]);
        } else if (strcmp(a, "--quick") == 0) {
            quick = 1;
        } else if (strcmp(a, "--skip-full") == 0) {
            o.skip_full = 1;
        } else if (strcmp(a, "--jit") == 0) {
            o.jit = 1;
        } else if (strcmp(a, "--accuracy") == 0) {
            o.accuracy = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "ipex-benchmark: unknown or incomplete option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (quick) {
        o.min_seconds = 0;
        if (!iters_set) o.min_iters = 1;
        if (!size_set) o.size = 128;
        if (!steps_set) o.steps = 4;
    }
    for (int s = 0; s < NSECTIONS; s++) {
        if (any_only && !only[s]) continue;
        if (!any_only && sections[s].run == bench_section_sd && access(o.ckpt, R_OK) != 0) {
            fprintf(stderr, "ipex-benchmark: no %s, SD section skipped (--ckpt FILE)\n", o.ckpt);
            continue;
        }
        if (sections[s].run(&o) != 0) return 1;
    }
    bench_report(&o, torch_script());
    backend_shutdown();
    return 0;
}
