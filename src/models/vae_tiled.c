/* vae_tiled.c -- ComfyUI's tiled VAE decode and encode (VAEDecodeTiled, VAEEncodeTiled).
 *
 * One pass (ComfyUI's tiled_scale) walks tiles of (tile_y, tile_x) input pixels that
 * overlap by `overlap`, starting every tile - overlap pixels and clamping the last start
 * to size - overlap. Each tile's output is weighted by a feather mask that ramps
 * linearly, (t+1)/feather for the t-th pixel from a tile edge, over overlap*scale output
 * pixels per side; the weighted sum is divided by the summed weights. An input that fits
 * one tile is run whole, unmasked. Decode averages three passes with tiles (2y, x/2),
 * (y/2, 2x), (y, x) and then maps to [0,1]; encode averages (y, x), (y/2, 2x), (2y, x/2).
 * Only one tile's activations exist at a time, so memory is bounded by the tile size.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/vae.h"
#include "models/vae_private.h"

typedef struct tile_job {
    vae *v;
    const tensor *src;     /* latent (B,z,h,w) for decode, image (B,H,W,C) for encode */
    int encode;
    int64_t b;             /* batch element being processed */
    int64_t y0, x0;        /* crop offset of the image (encode) */
    double scale;          /* output pixels per input pixel: 8 or 1/8 */
    int64_t out_c;
} tile_job;

/* The model on the window (y, x, h, w) of batch element j->b: heap (1, out_c, h', w'). */
static tensor *tile_run(const tile_job *j, int64_t y, int64_t x, int64_t h, int64_t w,
                        char *err, size_t errlen) {
    const tensor *s = j->src;
    if (j->encode) {
        int64_t ih = s->ne[1], iw = s->ne[2], ic = s->ne[3];
        tensor *one = tensor_view(DT_F32, 4, (int64_t[]){1, ih, iw, ic},
                                  (float *)s->data + j->b * ih * iw * ic);
        tensor *r = one ? vae_encode_window(j->v, one, j->y0 + y, j->x0 + x, h, w, err, errlen)
                        : NULL;
        tensor_free(one);
        return r;
    }
    int64_t z = s->ne[1], lh = s->ne[2], lw = s->ne[3];
    tensor *win = tensor_new(DT_F32, 4, (int64_t[]){1, z, h, w});
    if (!win) return NULL;
    const float *src = (const float *)s->data + j->b * z * lh * lw;
    float *dst = win->data;
    for (int64_t c = 0; c < z; c++)
        for (int64_t r = 0; r < h; r++)
            memcpy(dst + (c * h + r) * w, src + (c * lh + y + r) * lw + x, (size_t)w * sizeof(float));
    tensor *r = vae_decode_raw(j->v, win, err, errlen);
    tensor_free(win);
    return r;
}

/* Feather factors of one axis of a tile's output, in the order ComfyUI multiplies them:
 * position t and len-1-t get (t+1)/feather for t < feather; a position can get two. */
static void feather_factors(float *first, float *second, int64_t len, int64_t feather) {
    for (int64_t i = 0; i < len; i++) first[i] = second[i] = 1.0f;
    if (feather >= len) return;
    for (int64_t t = 0; t < feather; t++) {
        float a = (float)((double)(t + 1) / (double)feather);
        int64_t pos[2] = {t, len - 1 - t};
        /* A first factor of exactly 1 may be overwritten: the product is the same. */
        for (int k = 0; k < 2; k++) {
            if (first[pos[k]] == 1.0f) first[pos[k]] = a;
            else second[pos[k]] = a;
        }
    }
}

/* Adds ps * mask to out and mask to div at (oy, ox); ps is (1, c, th, tw). */
static void tile_blend(const tensor *ps, int64_t oy, int64_t ox, int64_t feather, float *out,
                       float *div, int64_t oh, int64_t ow) {
    int64_t c = ps->ne[1], th = ps->ne[2], tw = ps->ne[3];
    float *fy = malloc((size_t)(2 * th + 2 * tw) * sizeof(float));
    if (!fy) abort();   /* a few KB */
    float *fy2 = fy + th, *fx = fy2 + th, *fx2 = fx + tw;
    feather_factors(fy, fy2, th, feather);
    feather_factors(fx, fx2, tw, feather);
    const float *p = ps->data;
    for (int64_t k = 0; k < c; k++)
        for (int64_t y = 0; y < th && oy + y < oh; y++) {
            float my = fy[y] * fy2[y];
            for (int64_t x = 0; x < tw && ox + x < ow; x++) {
                float m = (my * fx[x]) * fx2[x];
                size_t o = (size_t)((k * oh + oy + y) * ow + ox + x);
                out[o] += p[(k * th + y) * tw + x] * m;
                div[o] += m;
            }
        }
    free(fy);
}

/* Start of the next tile along an axis of `size`, or -1 when the axis is done. */
static int64_t tile_next(int64_t it, int64_t size, int64_t tile, int64_t overlap) {
    it += tile - overlap;
    return size > tile && it < size - overlap ? it : -1;
}

/* One tiled_scale pass over batch element j->b; acc (out_c, oh, ow) += its result. */
static int tiled_pass(const tile_job *j, int64_t sh, int64_t sw, int64_t tile_y, int64_t tile_x,
                      int64_t overlap, float *acc, char *err, size_t errlen) {
    int64_t oh = llround((double)sh * j->scale), ow = llround((double)sw * j->scale);
    size_t n = (size_t)(j->out_c * oh * ow);
    if (sh <= tile_y && sw <= tile_x) {
        tensor *ps = tile_run(j, 0, 0, sh, sw, err, errlen);
        if (!ps) return -1;
        const float *p = ps->data;
        for (size_t i = 0; i < n; i++) acc[i] += p[i];
        tensor_free(ps);
        return 0;
    }
    float *out = calloc(n, sizeof(float)), *div = calloc(n, sizeof(float));
    int rc = out && div ? 0 : -1;
    if (rc) snprintf(err, errlen, "vae: out of memory");
    int64_t feather = llround((double)overlap * j->scale);
    for (int64_t iy = 0; !rc && iy >= 0; iy = tile_next(iy, sh, tile_y, overlap)) {
        for (int64_t ix = 0; !rc && ix >= 0; ix = tile_next(ix, sw, tile_x, overlap)) {
            int64_t py = iy < sh - overlap ? iy : sh - overlap, px = ix < sw - overlap ? ix : sw - overlap;
            if (py < 0) py = 0;
            if (px < 0) px = 0;
            int64_t ly = tile_y < sh - py ? tile_y : sh - py, lx = tile_x < sw - px ? tile_x : sw - px;
            tensor *ps = tile_run(j, py, px, ly, lx, err, errlen);
            if (!ps) {
                rc = -1;
                break;
            }
            tile_blend(ps, llround((double)py * j->scale), llround((double)px * j->scale), feather,
                       out, div, oh, ow);
            tensor_free(ps);
        }
    }
    for (size_t i = 0; !rc && i < n; i++) acc[i] += out[i] / div[i];
    free(out);
    free(div);
    return rc;
}

/* Three passes with the given (tile_y, tile_x) pairs, averaged, into a heap (B, out_c, oh, ow). */
static tensor *tiled_average(tile_job *j, int64_t sh, int64_t sw, const int64_t tiles[3][2],
                             int64_t overlap, char *err, size_t errlen) {
    for (int p = 0; p < 3; p++) {
        if (tiles[p][0] < 1 || tiles[p][1] < 1 || overlap < 0 || overlap >= tiles[p][0] ||
            overlap >= tiles[p][1]) {
            snprintf(err, errlen, "vae: tiles of %lldx%lld with overlap %lld: the overlap must be "
                     "smaller than every tile side", (long long)tiles[p][1], (long long)tiles[p][0],
                     (long long)overlap);
            return NULL;
        }
    }
    int64_t b = j->src->ne[0], oh = llround((double)sh * j->scale),
            ow = llround((double)sw * j->scale);
    tensor *res = tensor_new(DT_F32, 4, (int64_t[]){b, j->out_c, oh, ow});
    if (!res) {
        snprintf(err, errlen, "vae: out of memory");
        return NULL;
    }
    size_t n = (size_t)(j->out_c * oh * ow);
    for (j->b = 0; j->b < b; j->b++) {
        float *acc = (float *)res->data + (size_t)j->b * n;
        for (int p = 0; p < 3; p++) {
            if (tiled_pass(j, sh, sw, tiles[p][0], tiles[p][1], overlap, acc, err, errlen)) {
                tensor_free(res);
                return NULL;
            }
        }
        for (size_t i = 0; i < n; i++) acc[i] /= 3.0f;
    }
    return res;
}

tensor *vae_decode_tiled(vae *v, const tensor *latent, int tile_x, int tile_y, int overlap,
                         char *err, size_t errlen) {
    const tensor *l = latent;
    if (l->dt != DT_F32 || l->ndim != 4 || l->ne[2] < 1 || l->ne[3] < 1) {
        snprintf(err, errlen, "vae: latent must be f32 (B,z,h,w)");
        return NULL;
    }
    if (l->ne[1] != vae_latent_channels(v)) {
        snprintf(err, errlen, "vae: latent must have %d channels", vae_latent_channels(v));
        return NULL;
    }
    tile_job j = {.v = v, .src = l, .scale = vae_downscale(v), .out_c = 3};
    const int64_t tiles[3][2] = {{tile_y * 2, tile_x / 2}, {tile_y / 2, tile_x * 2},
                                 {tile_y, tile_x}};
    tensor *raw = tiled_average(&j, l->ne[2], l->ne[3], tiles, overlap, err, errlen);
    if (!raw) return NULL;
    tensor *img = vae_image_from_raw(raw);
    tensor_free(raw);
    if (!img) snprintf(err, errlen, "vae: out of memory");
    return img;
}

tensor *vae_encode_tiled(vae *v, const tensor *image, int tile_x, int tile_y, int overlap,
                         char *err, size_t errlen) {
    if (vae_check_image(v, image, err, errlen)) return NULL;
    int64_t f = vae_downscale(v), h = image->ne[1], w = image->ne[2];
    if (tile_x % (2 * f) || tile_y % (2 * f) || overlap % f) {
        snprintf(err, errlen, "vae: encode tiles must be multiples of %lld pixels and the "
                 "overlap a multiple of %lld", (long long)(2 * f), (long long)f);
        return NULL;
    }
    tile_job j = {.v = v, .src = image, .encode = 1, .y0 = (h % f) / 2, .x0 = (w % f) / 2,
                  .scale = 1.0 / (double)f, .out_c = vae_latent_channels(v)};
    const int64_t tiles[3][2] = {{tile_y, tile_x}, {tile_y / 2, tile_x * 2},
                                 {tile_y * 2, tile_x / 2}};
    return tiled_average(&j, h / f * f, w / f * f, tiles, overlap, err, errlen);
}
