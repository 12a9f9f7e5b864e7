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
#include "support/model_fixture.h"

#define FP32_TOL 1e-4

typedef struct vae_fx {
    ckpt *synth, *fx;
    vae *v;
} vae_fx;

static int setup(void **state) {
    static vae_fx f;
    char err[512];
    if (model_fixture_backend(0)) return -1;
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

static int teardown(void **state) {
    vae_fx *f = *state;
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

static void test_decode(void **state) {
    vae_fx *f = *state;
    char err[256];
    const tensor *z = model_fixture_get(f->fx, "vae.decode.input_latent");
    tensor *img = must(vae_decode(f->v, z, err, sizeof(err)), err);
    check("decode", img, model_fixture_get(f->fx, "vae.decode.output_image"), FP32_TOL);
    tensor_free(img);
}

static void test_encode_and_decode_back(void **state) {
    vae_fx *f = *state;
    char err[256];
    const tensor *img = model_fixture_get(f->fx, "vae.encode.input_image");
    tensor *z = must(vae_encode(f->v, img, err, sizeof(err)), err);
    check("encode", z, model_fixture_get(f->fx, "vae.encode.output_latent"), FP32_TOL);
    tensor *back = must(vae_decode(f->v, z, err, sizeof(err)), err);
    check("encode_decode", back, model_fixture_get(f->fx, "vae.encode_decode.output_image"),
          FP32_TOL);
    tensor_free(z);
    tensor_free(back);
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

/* A 16x16 latent (the fixture latent repeated 2x2) decoded with 8x8 tiles overlapping by
 * 2: the blend must stay a convex combination of tile outputs close to the plain decode. */
static void test_tiled_decode_blends(void **state) {
    vae_fx *f = *state;
    char err[256];
    const tensor *z8 = model_fixture_get(f->fx, "vae.decode.input_latent");
    tensor *z = tensor_new(DT_F32, 4, (int64_t[]){1, 4, 16, 16});
    const float *s = z8->data;
    float *d = z->data;
    for (int c = 0; c < 4; c++)
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 16; x++) d[(c * 16 + y) * 16 + x] = s[(c * 8 + y % 8) * 8 + x % 8];
    tensor *plain = must(vae_decode(f->v, z, err, sizeof(err)), err);
    tensor *tiled = must(vae_decode_tiled(f->v, z, 8, 8, 2, err, sizeof(err)), err);
    assert_int_equal(tiled->ne[1], 128);
    assert_int_equal(tiled->ne[2], 128);
    double mad = 0;
    const float *a = tiled->data, *b = plain->data;
    size_t n = (size_t)tensor_numel(plain);
    for (size_t i = 0; i < n; i++) {
        assert_true(a[i] >= 0.0f && a[i] <= 1.0f);
        mad += fabs((double)a[i] - b[i]);
    }
    mad /= (double)n;
    print_message("vae decode_tiled(8,8,2) of 16x16: mean |tiled - plain| %.4f\n", mad);
    assert_true(mad > 0 && mad < 0.05);
    tensor_free(z);
    tensor_free(plain);
    tensor_free(tiled);
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
        cmocka_unit_test(test_tiled_decode_blends),
        cmocka_unit_test(test_rejects_bad_input),
    };
    return cmocka_run_group_tests_name("vae", tests, setup, teardown);
}
