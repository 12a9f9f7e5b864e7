/* ipex_benchmark.c -- ipex-benchmark: GFLOPS of our kernels, optionally next to PyTorch.
 *
 *   ipex-benchmark [--tensor-only | --conv-only] [--json] [--torch] [--opt-level N]
 *                  [--threads N] [--min-seconds S]
 *
 * The program is a table of sections, each selected by its own --NAME-only flag and
 * all run when none is given; new sections (SD pipelines, a --quick subset) add a row.
 */
#include "bench.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bench_section {
    const char *flag;                      /* --FLAG selects only this section */
    int (*run)(const bench_opts *o);
} bench_section;

static const bench_section sections[] = {
    {"--tensor-only", bench_section_tensor},
    {"--conv-only", bench_section_conv},
};
#define NSECTIONS (int)(sizeof sections / sizeof sections[0])

/* bench/torch_ops.py next to the source tree, or installed beside the data. */
static const char *torch_script(void) {
    static const char *paths[] = {"bench/torch_ops.py", CI_DATADIR "/bench/torch_ops.py"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        FILE *f = fopen(paths[i], "r");
        if (f) {
            fclose(f);
            return paths[i];
        }
    }
    return paths[0];
}

static void usage(FILE *f) {
    fprintf(f, "usage: ipex-benchmark [--tensor-only | --conv-only] [--json] [--torch]\n"
               "                      [--opt-level 0-3] [--threads N] [--min-seconds S]\n");
}

int main(int argc, char **argv) {
    bench_opts o = {.opt = OPT_O2, .min_seconds = 0.5, .min_iters = 3};
    int only[NSECTIONS] = {0}, any_only = 0;
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
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "ipex-benchmark: unknown or incomplete option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    for (int s = 0; s < NSECTIONS; s++)
        if ((!any_only || only[s]) && sections[s].run(&o) != 0) return 1;
    bench_report(&o, torch_script());
    backend_shutdown();
    return 0;
}
