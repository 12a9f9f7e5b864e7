/* bench.h -- what the sections of ipex-benchmark share.
 *
 * A section (tensor ops, convolutions, the SD1.5 pipeline) times cases and records one
 * bench_case per (op, shape, dtype). The driver prints them as text or JSON and, with
 * --torch, times the same cases in PyTorch in the same run for a side-by-side column.
 * A case's params are the numbers that define it; bench/torch_ops.py reads the same
 * params by op name, so the two sides always run the same shapes. The SD section
 * reports one object of named figures instead ("sd"); bench/torch_sd15.py reads it.
 */
#ifndef CI_BENCH_H
#define CI_BENCH_H

#include <stdint.h>

#include "backend/backend.h"

#define BENCH_MAX_PARAMS 8

typedef struct bench_opts {
    opt_level opt;
    int threads;
    int json;
    int torch;            /* also time the cases in PyTorch */
    double min_seconds;   /* per case, after one warm-up call */
    int min_iters;        /* also the UNet step repetitions of --sd-only */
    const char *compare;  /* --compare FILE: an earlier --json output */
    /* --sd-only */
    precision prec;
    const char *ckpt, *tok_dir;
    int size, steps, batch;
    int skip_full;        /* UNet step, CLIP and decode only, no full picture */
    int jit;              /* create every primitive before the first picture */
    int accuracy;         /* also run fp32 O0 and report the error against it */
} bench_opts;

typedef struct bench_case {
    const char *section;   /* "tensor", "conv" */
    const char *op;        /* "conv2d", "linear", ... (torch_ops.py knows each) */
    char shape[96];        /* human-readable shape */
    const char *dtype;     /* "fp32", "bf16" */
    int nparams;
    int64_t params[BENCH_MAX_PARAMS];
    double flops;          /* per call; 0 for memory-bound ops (then GB/s is not shown) */
    double ms;             /* median per call */
    double torch_ms;       /* 0 when not measured */
} bench_case;

/* Sets precision and opt level for the cases that follow; returns the dtype name the
 * engine actually computes in ("bf16" falls back to "fp32" where unsupported). */
const char *bench_use_precision(const bench_opts *o, precision p);
/* Median milliseconds of fn(ctx) over at least min_iters calls and min_seconds. */
double bench_time_ms(const bench_opts *o, void (*fn)(void *ctx), void *ctx);
void bench_add(const bench_case *c);
/* Prints every recorded case (and the PyTorch column, running torch_script). */
void bench_report(const bench_opts *o, const char *torch_script);

int bench_section_tensor(const bench_opts *o);
int bench_section_conv(const bench_opts *o);
int bench_section_sd(const bench_opts *o);

/* The "sd" object of the report (created on first use, printed by bench_report). */
struct cJSON *bench_sd_object(void);

/* bench_compare.c: ratios earlier / now (NULL when path is unreadable); text form. */
struct cJSON *bench_compare(const char *path, const bench_case *cases, int n,
                            const struct cJSON *sd);
void bench_compare_print(const struct cJSON *cmp);

/* bench_machine.c */
double bench_now_s(void);
double bench_cpu_s(void);   /* CPU seconds of the process, all threads */
int bench_cmp_double(const void *a, const void *b);
double bench_peak_gflops(const char *dtype);   /* all threads, this ISA, this dtype */
double bench_energy_j(void);                   /* RAPL packages, cumulative; -1 unreadable */

#endif
