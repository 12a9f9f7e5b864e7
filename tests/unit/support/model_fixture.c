/* model_fixture.c -- see model_fixture.h. */
#include "model_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend/backend.h"

static ckpt *open_path(const char *path) {
    char *err = NULL;
    ckpt *c = ckpt_open(path, &err);
    if (!c) {
        print_message("cannot open %s: %s\n", path, err ? err : "?");
        free(err);
    }
    return c;
}

ckpt *model_fixture_open(const char *name) {
    const char *shared = getenv("SHARED");
    char path[1024];
    snprintf(path, sizeof(path), "%s/fixtures/sd15/%s", shared ? shared : "../shared", name);
    return open_path(path);
}

ckpt *model_fixture_synth_open(void) {
    const char *build = getenv("BUILD");
    char path[1024];
    snprintf(path, sizeof(path), "%s/sd15-synth.safetensors", build ? build : "build");
    return open_path(path);
}

const tensor *model_fixture_get(const ckpt *c, const char *name) {
    const tensor *t = ckpt_get(c, name);
    if (!t || t->dt != DT_F32) fail_msg("fixture tensor %s missing or not F32", name);
    return t;
}

double model_fixture_rel_err(const float *a, const float *b, size_t n) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= diff)) diff = d;   /* NaN propagates as a failure */
        if (fabs(b[i]) > scale) scale = fabs(b[i]);
    }
    return scale > 0 ? diff / scale : diff;
}

int model_fixture_backend(int bf16) { return model_fixture_backend_at(bf16, OPT_O1); }

int model_fixture_backend_at(int bf16, int opt) {
    backend_config cfg = {.accel = ACCEL_CPU, .opt = (opt_level)opt,
                          .prec = bf16 ? PREC_BF16 : PREC_FP32};
    char err[256];
    backend_shutdown();
    if (backend_init(&cfg, err, sizeof(err))) {
        print_message("backend_init: %s\n", err);
        return -1;
    }
    return 0;
}
