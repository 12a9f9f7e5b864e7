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

/* What a reference pass tiles: a latent to decode or an (already cropped) image window
 * to encode, and how many output pixels one input pixel makes (num / den). */
typedef struct ref_src {
    const tensor *t;       /* latent (1,c,h,w) or image (1,H,W,C) */
    int encode;
    int64_t y0, x0;        /* crop offset of the image */
    int64_t h, w;          /* input size (after the crop) */
    int64_t oc, num, den;  /* output channels; scale num/den */
} ref_src;

static tensor *ref_run(vae *v, const ref_src *s, int64_t y, int64_t x, int64_t h, int64_t w) {
    char err[256];
    if (s->encode)
        return must(vae_encode_window(v, s->t, s->y0 + y, s->x0 + x, h, w, err, sizeof(err)), err);
    int64_t c = s->t->ne[1];
    tensor *win = tensor_new(DT_F32, 4, (int64_t[]){1, c, h, w});
    for (int64_t k = 0; k < c; k++)
        for (int64_t r = 0; r < h; r++)
            for (int64_t q = 0; q < w; q++)
                ((float *)win->data)[(k * h + r) * w + q] =
                    ((const float *)s->t->data)[(k * s->h + y + r) * s->w + x + q];
    tensor *raw = must(vae_decode_raw(v, win, err, sizeof(err)), err);
    tensor_free(win);
    return raw;
}

/* One tiled_scale pass recomputed in double: acc (oc, oh, ow) += blend of the tiles. */
static void ref_pass(vae *v, const ref_src *s, int64_t ty, int64_t tx, int64_t ov, double *acc) {
    int64_t oh = s->h * s->num / s->den, ow = s->w * s->num / s->den, f = ov * s->num / s->den;
    int64_t ys[64], xs[64];
    int ny = ref_starts(s->h, ty, ov, ys), nx = ref_starts(s->w, tx, ov, xs);
    double *out = calloc((size_t)(s->oc * oh * ow), sizeof(double));
    double *div = calloc((size_t)(oh * ow), sizeof(double));
    for (int a = 0; a < ny; a++)
        for (int b = 0; b < nx; b++) {
            int64_t ly = ty < s->h - ys[a] ? ty : s->h - ys[a];
            int64_t lx = tx < s->w - xs[b] ? tx : s->w - xs[b];
            tensor *ps = ref_run(v, s, ys[a], xs[b], ly, lx);
            int64_t th = ps->ne[2], tw = ps->ne[3];
            int64_t oy = ys[a] * s->num / s->den, ox = xs[b] * s->num / s->den;
            for (int64_t y = 0; y < th; y++)
                for (int64_t x = 0; x < tw; x++) {
                    double m = ny * nx == 1 ? 1.0 : ref_ramp(y, th, f) * ref_ramp(x, tw, f);
                    int64_t o = (oy + y) * ow + ox + x;
                    div[o] += m;
                    for (int64_t k = 0; k < s->oc; k++)
                        out[k * oh * ow + o] += m * ((float *)ps->data)[(k * th + y) * tw + x];
                }
            tensor_free(ps);
        }
    for (int64_t i = 0; i < s->oc * oh * ow; i++) acc[i] += out[i] / div[i % (oh * ow)];
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
    ref_src src = {.t = z, .h = 16, .w = 16, .oc = 3, .num = 8, .den = 1};
    ref_pass(f->v, &src, 16, 4, 2, acc);
    ref_pass(f->v, &src, 4, 16, 2, acc);
    ref_pass(f->v, &src, 8, 8, 2, acc);
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

/* A 70x68 image (the fixture image repeated) encoded with 32-px tiles overlapping by 8:
 * the centre crop to 64x64 and the three passes, against the blend recomputed here. */
static void test_tiled_encode_matches_reference(void **state) {
    vae_fx *f = *state;
    char err[256];
    const tensor *src = model_fixture_get(f->fx, "vae.encode.input_image");
    enum { H = 70, W = 68 };
    tensor *img = tensor_new(DT_F32, 4, (int64_t[]){1, H, W, 3});
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int k = 0; k < 3; k++)
                ((float *)img->data)[(y * W + x) * 3 + k] =
                    ((const float *)src->data)[((y % 64) * 64 + x % 64) * 3 + k];
    tensor *tiled = must(vae_encode_tiled(f->v, img, 32, 32, 8, err, sizeof(err)), err);
    double acc[4 * 8 * 8] = {0};
    ref_src rs = {.t = img, .encode = 1, .y0 = 3, .x0 = 2, .h = 64, .w = 64, .oc = 4, .num = 1,
                  .den = 8};
    ref_pass(f->v, &rs, 32, 32, 8, acc);
    ref_pass(f->v, &rs, 16, 64, 8, acc);
    ref_pass(f->v, &rs, 64, 16, 8, acc);
    tensor *ref = tensor_new(DT_F32, 4, (int64_t[]){1, 4, 8, 8});
    for (int i = 0; i < 4 * 8 * 8; i++) ((float *)ref->data)[i] = (float)(acc[i] / 3.0);
    check("encode_tiled(32,32,8) 70x68", tiled, ref, 1e-5);
    tensor_free(img);
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
        cmocka_unit_test(test_tiled_encode_matches_reference),
        cmocka_unit_test(test_rejects_bad_input),
    };
    const struct CMUnitTest bf16[] = {
        cmocka_unit_test(test_bf16_decode),
        cmocka_unit_test(test_bf16_encode_and_decode_back),
    };
    int failed = cmocka_run_group_tests_name("vae", tests, setup, teardown);
    return failed + cmocka_run_group_tests_name("vae_bf16", bf16, setup_bf16, teardown);
}
