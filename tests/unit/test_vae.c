/* test_vae.c -- the SD VAE against ComfyUI's own numbers (fixtures/sd15/vae), and the
 * tiled decode/encode against the plain ones.
 *
 * VAEDecode of a fixed latent, VAEEncode of a fixed image, and the decode of our own
 * encoding, all in ComfyUI's pixel conventions (NHWC, clamp((x+1)/2)). Errors are
 * max |a-b| / max |ref|.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/vae.h"
#include "models/vae_private.h"
#include "support/model_fixture.h"

#define FP32_TOL 1e-4
#define BF16_TOL 8e-2   /* measured 3.8e-2 at most (encode->decode) */

typedef struct vae_fx {
    ckpt *synth, *fx;
    vae *v;
} vae_fx;

static int setup_at(void **state, int bf16) {
    static vae_fx f;
    char err[512];
    memset(&f, 0, sizeof(f));
    if (model_fixture_backend(bf16)) return -1;
    f.fx = model_fixture_open("vae.safetensors");
    f.synth = model_fixture_synth_open();
    if (!f.fx || !f.synth) return -1;
    vae_config cfg = vae_config_sd();
    f.v = vae_load(f.synth, "first_stage_model.", &cfg, err, sizeof(err));
    if (!f.v) {
        print_message("vae_load: %s\n", err);
        return -1;
    }
    *state = &f;
    return 0;
}

static int setup(void **state) { return setup_at(state, 0); }
static int setup_bf16(void **state) { return setup_at(state, 1); }

static int teardown(void **state) {
    vae_fx *f = *state;
    if (!f) return 0;   /* setup failed before anything was loaded */
    vae_free(f->v);
    ckpt_close(f->synth);
    ckpt_close(f->fx);
    return 0;
}

static void check(const char *what, const tensor *got, const tensor *ref, double tol) {
    assert_int_equal(got->ndim, ref->ndim);
    for (int i = 0; i < ref->ndim; i++) assert_int_equal(got->ne[i], ref->ne[i]);
    double e = model_fixture_rel_err(got->data, ref->data, (size_t)tensor_numel(ref));
    print_message("vae %-22s max rel err %.3g\n", what, e);
    if (!(e <= tol)) fail_msg("vae %s: max rel err %g > %g", what, e, tol);
}

static tensor *must(tensor *t, const char *err) {
    if (!t) fail_msg("%s", err);
    return t;
}

static void run_decode(vae_fx *f, double tol) {
    char err[256];
    const tensor *z = model_fixture_get(f->fx, "vae.decode.input_latent");
    tensor *img = must(vae_decode(f->v, z, err, sizeof(err)), err);
    check("decode", img, model_fixture_get(f->fx, "vae.decode.output_image"), tol);
    tensor_free(img);
}

static void run_encode_and_decode_back(vae_fx *f, double tol) {
    char err[256];
    const tensor *img = model_fixture_get(f->fx, "vae.encode.input_image");
    tensor *z = must(vae_encode(f->v, img, err, sizeof(err)), err);
    check("encode", z, model_fixture_get(f->fx, "vae.encode.output_latent"), tol);
    tensor *back = must(vae_decode(f->v, z, err, sizeof(err)), err);
    check("encode_decode", back, model_fixture_get(f->fx, "vae.encode_decode.output_image"), tol);
    tensor_free(z);
    tensor_free(back);
}

static void test_decode(void **state) { run_decode(*state, FP32_TOL); }
static void test_encode_and_decode_back(void **state) {
    run_encode_and_decode_back(*state, FP32_TOL);
}
static void test_bf16_decode(void **state) { run_decode(*state, BF16_TOL); }
static void test_bf16_encode_and_decode_back(void **state) {
    run_encode_and_decode_back(*state, BF16_TOL);
}

/* Tiles at least as big as the input: every pass runs the whole input, so the average of
 * the three passes is the plain result up to float rounding. */
static void test_tiled_single_tile_is_plain(void **state) {
    vae_fx *f = *state;
    char err[256];
    const tensor *z = model_fixture_get(f->fx, "vae.decode.input_latent");
    tensor *plain = must(vae_decode(f->v, z, err, sizeof(err)), err);
    tensor *tiled = must(vae_decode_tiled(f->v, z, 16, 16, 2, err, sizeof(err)), err);
    check("decode_tiled(16,16,2)", tiled, plain, 1e-6);
    const tensor *img = model_fixture_get(f->fx, "vae.encode.input_image");
    tensor *ze = must(vae_encode(f->v, img, err, sizeof(err)), err);
    tensor *zt = must(vae_encode_tiled(f->v, img, 128, 128, 16, err, sizeof(err)), err);
    check("encode_tiled(128,128,16)", zt, ze, 1e-6);
    tensor_free(plain);
    tensor_free(tiled);
    tensor_free(ze);
    tensor_free(zt);
}

/* ComfyUI's feather weight of output pixel i of a tile of len pixels: (i+1)/f within f
 * of the start, (len-i)/f within f of the end (both near a short tile), 1 elsewhere. */
static double ref_ramp(int64_t i, int64_t len, int64_t f) {
    if (f >= len) return 1.0;
    double w = 1.0;
    if (i < f) w *= (double)(i + 1) / (double)f;
    if (len - 1 - i < f) w *= (double)(len - i) / (double)f;
    return w;
}

/* Tile starts along an axis as tiled_scale computes them. */
static int ref_starts(int64_t size, int64_t tile, int64_t ov, int64_t *out) {
    if (size <= tile) {
        out[0] = 0;
        return 1;
    }
    int n = 0;
    for (int64_t it = 0; it < size - ov; it += tile - ov) out[n++] = it < size - ov ? it : size - ov;
    return n;
}

/* One reference pass in double: acc (3, 8h, 8w) += blend of decoded windows. */
static void ref_pass(vae *v, const tensor *z, int64_t ty, int64_t tx, int64_t ov, double *acc) {
    int64_t c = z->ne[1], h = z->ne[2], w = z->ne[3], oh = 8 * h, ow = 8 * w, ys[64], xs[64];
    int ny = ref_starts(h, ty, ov, ys), nx = ref_starts(w, tx, ov, xs);
    double *out = calloc((size_t)(3 * oh * ow), sizeof(double));
    double *div = calloc((size_t)(oh * ow), sizeof(double));
    char err[256];
    for (int a = 0; a < ny; a++)
        for (int b = 0; b < nx; b++) {
            int64_t ly = ty < h - ys[a] ? ty : h - ys[a], lx = tx < w - xs[b] ? tx : w - xs[b];
            tensor *win = tensor_new(DT_F32, 4, (int64_t[]){1, c, ly, lx});
            for (int64_t k = 0; k < c; k++)
                for (int64_t y = 0; y < ly; y++)
                    for (int64_t x = 0; x < lx; x++)
                        ((float *)win->data)[(k * ly + y) * lx + x] =
                            ((const float *)z->data)[(k * h + ys[a] + y) * w + xs[b] + x];
            tensor *raw = must(vae_decode_raw(v, win, err, sizeof(err)), err);
            int single = ny == 1 && nx == 1;
            for (int64_t y = 0; y < 8 * ly; y++)
                for (int64_t x = 0; x < 8 * lx; x++) {
                    double m = single ? 1.0 : ref_ramp(y, 8 * ly, 8 * ov) * ref_ramp(x, 8 * lx, 8 * ov);
                    int64_t o = (8 * ys[a] + y) * ow + 8 * xs[b] + x;
                    div[o] += m;
                    for (int k = 0; k < 3; k++)
                        out[k * oh * ow + o] += m * ((float *)raw->data)[(k * 8 * ly + y) * 8 * lx + x];
                }
            tensor_free(win);
            tensor_free(raw);
        }
    for (int64_t i = 0; i < 3 * oh * ow; i++) acc[i] += out[i] / div[i % (oh * ow)];
    free(out);
    free(div);
}

/* A 16x16 latent (the fixture latent repeated 2x2) decoded with 8x8 tiles overlapping by
 * 2 latent pixels, against the same three passes blended in double precision here. */
static void test_tiled_decode_matches_reference(void **state) {
    vae_fx *f = *state;
    char err[256];
    const tensor *z8 = model_fixture_get(f->fx, "vae.decode.input_latent");
    tensor *z = tensor_new(DT_F32, 4, (int64_t[]){1, 4, 16, 16});
    const float *s = z8->data;
    float *d = z->data;
    for (int c = 0; c < 4; c++)
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 16; x++) d[(c * 16 + y) * 16 + x] = s[(c * 8 + y % 8) * 8 + x % 8];
    tensor *tiled = must(vae_decode_tiled(f->v, z, 8, 8, 2, err, sizeof(err)), err);
    enum { OH = 128, OW = 128 };
    double *acc = calloc(3 * OH * OW, sizeof(double));
    ref_pass(f->v, z, 16, 4, 2, acc);
    ref_pass(f->v, z, 4, 16, 2, acc);
    ref_pass(f->v, z, 8, 8, 2, acc);
    tensor *ref = tensor_new(DT_F32, 4, (int64_t[]){1, OH, OW, 3});
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < OH * OW; i++) {
            double x = (acc[k * OH * OW + i] / 3.0 + 1.0) / 2.0;
            ((float *)ref->data)[i * 3 + k] = (float)(x < 0 ? 0 : x > 1 ? 1 : x);
        }
    check("decode_tiled(8,8,2) 16x16", tiled, ref, 1e-5);
    free(acc);
    tensor_free(z);
    tensor_free(tiled);
    tensor_free(ref);
}

static void test_rejects_bad_input(void **state) {
    vae_fx *f = *state;
    char err[256] = "";
    tensor *z = tensor_new(DT_F32, 4, (int64_t[]){1, 3, 8, 8});
    assert_null(vae_decode(f->v, z, err, sizeof(err)));
    assert_non_null(strstr(err, "latent must be"));
    assert_null(vae_decode_tiled(f->v, z, 8, 8, 2, err, sizeof(err)));
    z->ne[1] = 4;
    assert_null(vae_decode_tiled(f->v, z, 8, 8, 4, err, sizeof(err)));
    assert_non_null(strstr(err, "overlap must be smaller"));
    tensor *img = tensor_new(DT_F32, 4, (int64_t[]){1, 4, 4, 3});
    assert_null(vae_encode(f->v, img, err, sizeof(err)));
    assert_non_null(strstr(err, "image must be"));
    tensor_free(z);
    tensor_free(img);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_encode_and_decode_back),
        cmocka_unit_test(test_tiled_single_tile_is_plain),
        cmocka_unit_test(test_tiled_decode_matches_reference),
        cmocka_unit_test(test_rejects_bad_input),
    };
    const struct CMUnitTest bf16[] = {
        cmocka_unit_test(test_bf16_decode),
        cmocka_unit_test(test_bf16_encode_and_decode_back),
    };
    int failed = cmocka_run_group_tests_name("vae", tests, setup, teardown);
    return failed + cmocka_run_group_tests_name("vae_bf16", bf16, setup_bf16, teardown);
}
