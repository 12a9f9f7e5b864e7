/* test_taesd.c -- the TAESD decoder against a double-precision reference of its definition.
 *
 * The weights are random, written as a taesd_decoder.safetensors with the real key layout
 * (nn.Sequential indices), loaded back through ckpt_open like the preview does. The
 * reference chains ref_conv2d (double, rounded to f32 between layers), ReLU, the residual
 * blocks and nearest 2x upsampling, straight from the decoder's definition in taesd.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "io/safetensors.h"
#include "models/taesd.h"
#include "support/tensor_ref.h"

#define NKEYS 67   /* conv_in 2, 10 blocks x 3 convs x 2, 3 upsample convs, conv_out 2 */
#define WSCALE 0.06f   /* keeps activations O(1) through 20 layers */

typedef struct weights {
    const char *names[NKEYS];
    tensor *ts[NKEYS];
    size_t n;
} weights;

static tensor *add(weights *w, uint64_t *seed, const char *name, int ndim, const int64_t *ne) {
    assert_true(w->n < NKEYS);
    tensor *t = ref_rand(seed, ndim, ne);
    float *d = t->data;
    for (int64_t i = 0; i < tensor_numel(t); i++) d[i] *= WSCALE;
    w->names[w->n] = strdup(name);
    w->ts[w->n++] = t;
    return t;
}

static void add_conv(weights *w, uint64_t *seed, const char *path, int64_t in, int64_t out,
                     int bias) {
    char name[64];
    snprintf(name, sizeof name, "%s.weight", path);
    add(w, seed, name, 4, (int64_t[]){out, in, 3, 3});
    if (bias) {
        snprintf(name, sizeof name, "%s.bias", path);
        add(w, seed, name, 1, (int64_t[]){out});
    }
}

static void make_weights(weights *w) {
    uint64_t seed = 0x7AE5D;
    char path[32];
    memset(w, 0, sizeof *w);
    add_conv(w, &seed, "1", 4, 64, 1);
    for (int i = 3; i <= 18; i++) {
        if (i == 6 || i == 11 || i == 16) continue;        /* Upsample */
        if (i == 7 || i == 12 || i == 17) {                /* conv, no bias */
            snprintf(path, sizeof path, "%d", i);
            add_conv(w, &seed, path, 64, 64, 0);
            continue;
        }
        for (int k = 0; k <= 4; k += 2) {
            snprintf(path, sizeof path, "%d.conv.%d", i, k);
            add_conv(w, &seed, path, 64, 64, 1);
        }
    }
    add_conv(w, &seed, "19", 64, 3, 1);
    assert_int_equal(w->n, NKEYS);
}

static void free_weights(weights *w) {
    for (size_t i = 0; i < w->n; i++) {
        free((void *)w->names[i]);
        tensor_free(w->ts[i]);
    }
}

static const tensor *get(const weights *w, const char *name) {
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->names[i], name)) return w->ts[i];
    fail_msg("no weight %s", name);
    return NULL;
}

/* conv3x3(x) [+ residual], then ReLU when asked; f32 result from the double reference. */
static tensor *ref_layer(const weights *w, const char *path, const tensor *x,
                         const tensor *residual, int relu) {
    char wn[64], bn[64];
    snprintf(wn, sizeof wn, "%s.weight", path);
    snprintf(bn, sizeof bn, "%s.bias", path);
    const tensor *wt = get(w, wn), *b = NULL;
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->names[i], bn)) b = w->ts[i];
    int64_t ne[4] = {1, wt->ne[0], x->ne[2], x->ne[3]};
    tensor *y = tensor_new(DT_F32, 4, ne);
    double *o = alloc_ref(tensor_numel(y));
    ref_conv2d(x, wt, b, 1, 1, 1, o);
    float *yd = y->data;
    const float *r = residual ? residual->data : NULL;
    for (int64_t i = 0; i < tensor_numel(y); i++) {
        double v = o[i] + (r ? r[i] : 0.0);
        yd[i] = (float)(relu && v < 0 ? 0 : v);
    }
    free(o);
    return y;
}

static tensor *ref_block(const weights *w, int index, tensor *x) {
    char p[32];
    snprintf(p, sizeof p, "%d.conv.0", index);
    tensor *h = ref_layer(w, p, x, NULL, 1);
    snprintf(p, sizeof p, "%d.conv.2", index);
    tensor *h2 = ref_layer(w, p, h, NULL, 1);
    snprintf(p, sizeof p, "%d.conv.4", index);
    tensor *y = ref_layer(w, p, h2, x, 1);
    tensor_free(h);
    tensor_free(h2);
    tensor_free(x);
    return y;
}

static tensor *ref_up(tensor *x) {
    int64_t C = x->ne[1], H = x->ne[2], W = x->ne[3], ne[4] = {1, C, 2 * H, 2 * W};
    tensor *y = tensor_new(DT_F32, 4, ne);
    const float *s = x->data;
    float *d = y->data;
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < 2 * H; i++)
            for (int64_t j = 0; j < 2 * W; j++)
                d[(c * 2 * H + i) * 2 * W + j] = s[(c * H + i / 2) * W + j / 2];
    tensor_free(x);
    return y;
}

static double *reference(const weights *w, const tensor *latent) {
    tensor *x = tensor_new(DT_F32, 4, latent->ne);
    const float *l = latent->data;
    float *xd = x->data;
    for (int64_t i = 0; i < tensor_numel(x); i++) xd[i] = (float)(tanh(l[i] / 3.0) * 3.0);
    tensor *h = ref_layer(w, "1", x, NULL, 1);
    tensor_free(x);
    for (int s = 0; s < 3; s++) {
        for (int b = 0; b < 3; b++) h = ref_block(w, 3 + 5 * s + b, h);
        char p[8];
        snprintf(p, sizeof p, "%d", 7 + 5 * s);
        tensor *u = ref_up(h);
        h = ref_layer(w, p, u, NULL, 0);
        tensor_free(u);
    }
    h = ref_block(w, 18, h);
    tensor *o = ref_layer(w, "19", h, NULL, 0);
    tensor_free(h);
    double *out = alloc_ref(tensor_numel(o));
    for (int64_t i = 0; i < tensor_numel(o); i++) out[i] = ((float *)o->data)[i];
    tensor_free(o);
    return out;
}

static void use(precision p, opt_level opt) {
    backend_config cfg = {ACCEL_CPU, opt, p, 0, 0};
    char err[256];
    backend_shutdown();
    assert_int_equal(backend_init(&cfg, err, sizeof err), 0);
}

static char *write_file(const weights *w, char path[static 32]) {
    strcpy(path, "/tmp/test_taesd_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char err[256];
    assert_int_equal(st_save(path, w->names, (const tensor *const *)w->ts, w->n, NULL, 0, err,
                             sizeof err), 0);
    return path;
}

static void decode_case(const weights *w, const char *path, precision p, opt_level opt,
                        double tol) {
    use(p, opt);
    char *oerr = NULL, err[256];
    ckpt *ck = ckpt_open(path, &oerr);
    assert_non_null(ck);
    taesd *t = taesd_load(ck, 4, err, sizeof err);
    ckpt_close(ck);
    assert_non_null(t);
    uint64_t seed = 99;
    tensor *lat = ref_rand(&seed, 4, (int64_t[]){1, 4, 2, 3});
    float *ld = lat->data;
    for (int64_t i = 0; i < tensor_numel(lat); i++) ld[i] *= 4.0f;   /* reach tanh's bend */
    tensor *out = tensor_new(DT_F32, 4, (int64_t[]){1, 3, 16, 24});
    assert_int_equal(taesd_decode(t, lat, out, err, sizeof err), 0);
    double *want = reference(w, lat);
    double e = ref_rel_err(out, want, tensor_numel(out));
    print_message("taesd precision %d O%d: rel err %.3g (tol %.g)\n", (int)p, (int)opt, e, tol);
    assert_true(e < tol);
    /* The output shape is checked, not assumed. */
    tensor *bad = tensor_new(DT_F32, 4, (int64_t[]){1, 3, 16, 16});
    assert_int_equal(taesd_decode(t, lat, bad, err, sizeof err), -1);
    assert_non_null(strstr(err, "taesd"));
    free(want);
    tensor_free(bad);
    tensor_free(out);
    tensor_free(lat);
    taesd_free(t);
}

static void test_decode_matches_reference(void **state) {
    (void)state;
    weights w;
    make_weights(&w);
    char buf[32], *path = write_file(&w, buf);
    decode_case(&w, path, PREC_FP32, OPT_O0, 1e-5);
    decode_case(&w, path, PREC_FP32, OPT_O3, 1e-5);
    decode_case(&w, path, PREC_BF16, OPT_O3, 5e-2);
    unlink(path);
    free_weights(&w);
}

static void test_missing_key_names_it(void **state) {
    (void)state;
    weights w;
    make_weights(&w);
    tensor_free(w.ts[w.n - 1]);             /* drop 19.bias */
    free((void *)w.names[--w.n]);
    char buf[32], *path = write_file(&w, buf);
    use(PREC_FP32, OPT_O1);
    char *oerr = NULL, err[256];
    ckpt *ck = ckpt_open(path, &oerr);
    assert_non_null(ck);
    assert_null(taesd_load(ck, 4, err, sizeof err));
    assert_non_null(strstr(err, "19.bias"));
    ckpt_close(ck);
    unlink(path);
    free_weights(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_matches_reference),
        cmocka_unit_test(test_missing_key_names_it),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    backend_shutdown();
    return rc;
}
