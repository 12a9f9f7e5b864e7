/* resize.c -- comfy.utils.common_upscale: optional centre crop, then resampling.
 *
 * nearest-exact, bilinear, bicubic and area are torch.nn.functional.interpolate, which
 * op_interpolate (tensor/ops.h) reproduces; the op runs in a private arena and the
 * result is copied out. lanczos is ComfyUI's round trip through PIL: pixels to 8 bits
 * (x255, clip, truncate), PIL's two-pass Lanczos-3 with its 22-bit fixed-point
 * coefficients and 8-bit rounding between passes, back to floats /255. bislerp is
 * ComfyUI's spherical bilinear resize of latents: per pixel, channel vectors are
 * slerped (directions) with linearly blended norms, first along x, then along y.
 * The PIL resampler also takes PIL's bilinear filter, which live previews shrink with.
 */
#include "core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tensor/arena.h"
#include "tensor/ops.h"

int64_t py_round(double v) { return (int64_t)nearbyint(v); }   /* default mode: half to even */

/* x (N, C, H, W): rows [y, H-y) and columns [x, W-x). */
static tensor *crop_center(const tensor *x, int64_t w, int64_t h) {
    int64_t ow = x->ne[3], oh = x->ne[2], cx = 0, cy = 0;
    double old_aspect = (double)ow / (double)oh, new_aspect = (double)w / (double)h;
    if (old_aspect > new_aspect) cx = py_round((ow - ow * (new_aspect / old_aspect)) / 2);
    else if (old_aspect < new_aspect) cy = py_round((oh - oh * (old_aspect / new_aspect)) / 2);
    int64_t ne[4] = { x->ne[0], x->ne[1], oh - 2 * cy, ow - 2 * cx };
    tensor *o = tensor_new(DT_F32, 4, ne);
    if (!o) return NULL;
    const float *src = x->data;
    float *dst = o->data;
    for (int64_t p = 0; p < ne[0] * ne[1]; p++)
        for (int64_t r = 0; r < ne[2]; r++)
            memcpy(dst + (p * ne[2] + r) * ne[3], src + (p * oh + r + cy) * ow + cx, (size_t)ne[3] * sizeof *dst);
    return o;
}

static int method_kind(const char *m, interp_kind *k) {
    static const struct { const char *name; interp_kind kind; } map[] = {
        { "nearest-exact", INTERP_NEAREST_EXACT }, { "bilinear", INTERP_BILINEAR },
        { "bicubic", INTERP_BICUBIC }, { "area", INTERP_AREA }, { "nearest", INTERP_NEAREST },
    };
    for (size_t i = 0; m && i < sizeof map / sizeof *map; i++)
        if (!strcmp(m, map[i].name)) { *k = map[i].kind; return 0; }
    return -1;
}

/* ---- PIL's ImagingResample on 8-bit planes: lanczos here, bilinear for previews ---- */

#define PIL_PRECISION_BITS (32 - 8 - 2)

static double sinc(double x) {
    if (x == 0.0) return 1.0;
    x *= M_PI;
    return sin(x) / x;
}

static double lanczos3(double x) { return x > -3.0 && x < 3.0 ? sinc(x) * sinc(x / 3.0) : 0.0; }
static double triangle(double x) { x = fabs(x); return x < 1.0 ? 1.0 - x : 0.0; }

static const struct { double (*fn)(double); double support; } filters[] = {
    [PIL_BILINEAR] = {triangle, 1.0}, [PIL_LANCZOS] = {lanczos3, 3.0},
};

typedef struct coeffs { int ksize; int *bounds; int32_t *k; } coeffs;   /* bounds: (min, count) per output */

static int precompute(int in_size, int out_size, pil_filter f, coeffs *c) {
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = filters[f].support * filterscale;
    c->ksize = (int)ceil(support) * 2 + 1;
    c->bounds = malloc((size_t)out_size * 2 * sizeof *c->bounds);
    c->k = malloc((size_t)out_size * (size_t)c->ksize * sizeof *c->k);
    double *pre = malloc((size_t)c->ksize * sizeof *pre);
    if (!c->bounds || !c->k || !pre) { free(pre); return -1; }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) { pre[x] = filters[f].fn((x + xmin - center + 0.5) * ss); ww += pre[x]; }
        int32_t *k = c->k + (size_t)xx * c->ksize;
        for (int x = 0; x < c->ksize; x++) {
            double v = x < xmax && ww != 0.0 ? pre[x] / ww : 0.0;
            k[x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PIL_PRECISION_BITS) : 0.5 + v * (1 << PIL_PRECISION_BITS));
        }
        c->bounds[2 * xx] = xmin;
        c->bounds[2 * xx + 1] = xmax;
    }
    free(pre);
    return 0;
}

static unsigned char clip8(int64_t v) {
    v >>= PIL_PRECISION_BITS;
    return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Horizontal pass over the rows the vertical pass needs, then the vertical pass, as PIL
 * orders them. */
int pil_resample_plane(const unsigned char *in, int h, int w, unsigned char *out, int oh, int ow,
                       pil_filter f) {
    coeffs ch = {0}, cv = {0};
    int rc = -1;
    unsigned char *tmp = NULL;
    if (precompute(w, ow, f, &ch) || precompute(h, oh, f, &cv)) goto done;
    int first = cv.bounds[0], last = cv.bounds[2 * oh - 2] + cv.bounds[2 * oh - 1];
    int th = ow != w ? last - first : h;
    const unsigned char *src = in;
    int row0 = 0;
    if (ow != w) {
        tmp = malloc((size_t)th * (size_t)ow);
        if (!tmp) goto done;
        for (int y = 0; y < th; y++)
            for (int x = 0; x < ow; x++) {
                const int32_t *k = ch.k + (size_t)x * ch.ksize;
                int64_t acc = 1 << (PIL_PRECISION_BITS - 1);
                for (int i = 0; i < ch.bounds[2 * x + 1]; i++)
                    acc += (int64_t)in[(size_t)(y + first) * w + ch.bounds[2 * x] + i] * k[i];
                tmp[(size_t)y * ow + x] = clip8(acc);
            }
        src = tmp;
        row0 = first;
    }
    for (int y = 0; y < oh; y++) {
        const int32_t *k = cv.k + (size_t)y * cv.ksize;
        int ymin = cv.bounds[2 * y] - row0;
        for (int x = 0; x < ow; x++) {
            if (oh == h) { out[(size_t)y * ow + x] = src[(size_t)y * ow + x]; continue; }
            int64_t acc = 1 << (PIL_PRECISION_BITS - 1);
            for (int i = 0; i < cv.bounds[2 * y + 1]; i++) acc += (int64_t)src[(size_t)(ymin + i) * ow + x] * k[i];
            out[(size_t)y * ow + x] = clip8(acc);
        }
    }
    rc = 0;
done:
    free(ch.bounds); free(ch.k); free(cv.bounds); free(cv.k); free(tmp);
    return rc;
}

static tensor *lanczos(const tensor *x, int64_t w, int64_t h) {
    int64_t ne[4] = { x->ne[0], x->ne[1], h, w };
    int64_t ih = x->ne[2], iw = x->ne[3];
    tensor *o = tensor_new(DT_F32, 4, ne);
    unsigned char *a = malloc((size_t)(ih * iw)), *b = malloc((size_t)(h * w));
    int ok = o && a && b;
    for (int64_t p = 0; ok && p < ne[0] * ne[1]; p++) {
        const float *s = (const float *)x->data + p * ih * iw;
        for (int64_t i = 0; i < ih * iw; i++) {
            float v = 255.0f * s[i];
            a[i] = (unsigned char)(v > 255.0f ? 255.0f : v > 0.0f ? v : 0.0f);
        }
        ok = pil_resample_plane(a, (int)ih, (int)iw, b, (int)h, (int)w, PIL_LANCZOS) == 0;
        float *d = (float *)o->data + p * h * w;
        for (int64_t i = 0; ok && i < h * w; i++) d[i] = (float)b[i] / 255.0f;
    }
    free(a); free(b);
    if (!ok) { tensor_free(o); return NULL; }
    return o;
}

/* ---- bislerp ---- */

/* torch's bilinear interpolation (align_corners=False) of 0..n-1 (and of 1..n-1,n-1)
 * to m samples: source indices and the fractional ratio. */
static void bilinear_coords(int64_t n, int64_t m, int64_t *c1, int64_t *c2, float *ratio) {
    float scale = (float)n / (float)m;
    for (int64_t o = 0; o < m; o++) {
        float src = scale * ((float)o + 0.5f) - 0.5f;
        if (src < 0) src = 0;
        int64_t i0 = (int64_t)src, step = i0 < n - 1 ? 1 : 0;
        float l1 = src - (float)i0, l0 = 1.0f - l1;
        float v1 = l0 * (float)i0 + l1 * (float)(i0 + step);
        float a = (float)(i0 + 1 < n ? i0 + 1 : n - 1), b = (float)(i0 + step + 1 < n ? i0 + step + 1 : n - 1);
        float v2 = l0 * a + l1 * b;
        c1[o] = (int64_t)v1;
        c2[o] = (int64_t)v2;
        ratio[o] = v1 - floorf(v1);
    }
}

/* ComfyUI's slerp of two c-vectors with ratio r. */
static void slerp(const float *b1, const float *b2, float r, int64_t c, float *out) {
    float n1 = 0, n2 = 0, dot = 0;
    for (int64_t i = 0; i < c; i++) { n1 += b1[i] * b1[i]; n2 += b2[i] * b2[i]; }
    n1 = sqrtf(n1); n2 = sqrtf(n2);
    for (int64_t i = 0; i < c; i++) dot += (n1 == 0 ? 0 : b1[i] / n1) * (n2 == 0 ? 0 : b2[i] / n2);
    if (dot > 1 - 1e-5f) { memcpy(out, b1, (size_t)c * sizeof *out); return; }
    if (dot < 1e-5f - 1) { for (int64_t i = 0; i < c; i++) out[i] = b1[i] * (1.0f - r) + b2[i] * r; return; }
    float omega = acosf(dot), so = sinf(omega);
    float w1 = sinf((1.0f - r) * omega) / so, w2 = sinf(r * omega) / so, norm = n1 * (1.0f - r) + n2 * r;
    for (int64_t i = 0; i < c; i++)
        out[i] = (w1 * (n1 == 0 ? 0 : b1[i] / n1) + w2 * (n2 == 0 ? 0 : b2[i] / n2)) * norm;
}

/* One axis: x (N, C, H, W) resized along W (axis 3) or H (axis 2). */
static tensor *bislerp_axis(const tensor *x, int axis, int64_t m) {
    int64_t n = x->ne[0], c = x->ne[1], h = x->ne[2], w = x->ne[3], len = axis == 3 ? w : h;
    int64_t ne[4] = { n, c, axis == 2 ? m : h, axis == 3 ? m : w };
    tensor *o = tensor_new(DT_F32, 4, ne);
    int64_t *c1 = malloc((size_t)m * sizeof *c1), *c2 = malloc((size_t)m * sizeof *c2);
    float *r = malloc((size_t)m * sizeof *r), *v1 = malloc((size_t)c * sizeof *v1),
          *v2 = malloc((size_t)c * sizeof *v2), *res = malloc((size_t)c * sizeof *res);
    if (o && c1 && c2 && r && v1 && v2 && res) {
        bilinear_coords(len, m, c1, c2, r);
        const float *s = x->data;
        float *d = o->data;
        for (int64_t b = 0; b < n; b++)
            for (int64_t y = 0; y < ne[2]; y++)
                for (int64_t xx = 0; xx < ne[3]; xx++) {
                    int64_t k = axis == 3 ? xx : y;
                    for (int64_t ch = 0; ch < c; ch++) {
                        int64_t base = (b * c + ch) * h * w;
                        v1[ch] = s[base + (axis == 3 ? y * w + c1[k] : c1[k] * w + xx)];
                        v2[ch] = s[base + (axis == 3 ? y * w + c2[k] : c2[k] * w + xx)];
                    }
                    slerp(v1, v2, r[k], c, res);
                    for (int64_t ch = 0; ch < c; ch++) d[((b * c + ch) * ne[2] + y) * ne[3] + xx] = res[ch];
                }
    } else {
        tensor_free(o);
        o = NULL;
    }
    free(c1); free(c2); free(r); free(v1); free(v2); free(res);
    return o;
}

static tensor *bislerp(const tensor *x, int64_t w, int64_t h) {
    tensor *a = bislerp_axis(x, 3, w);
    tensor *b = a ? bislerp_axis(a, 2, h) : NULL;
    tensor_free(a);
    return b;
}

tensor *core_upscale(const tensor *x, int64_t w, int64_t h, const char *method,
                     const char *crop, char *err, size_t errlen) {
    interp_kind kind = INTERP_NEAREST;
    int special = method && (!strcmp(method, "lanczos") || !strcmp(method, "bislerp"));
    if (!special && method_kind(method, &kind) < 0) {
        snprintf(err, errlen, "upscale method '%s' is not supported yet", method ? method : "?");
        return NULL;
    }
    if (x->dt != DT_F32 || x->ndim != 4 || w <= 0 || h <= 0) {
        snprintf(err, errlen, "cannot resize a tensor of %d dims to %lldx%lld", x->ndim, (long long)w, (long long)h);
        return NULL;
    }
    tensor *cropped = crop && !strcmp(crop, "center") ? crop_center(x, w, h) : NULL;
    if (special) {
        const tensor *src = cropped ? cropped : x;
        tensor *out = !strcmp(method, "lanczos") ? lanczos(src, w, h) : bislerp(src, w, h);
        tensor_free(cropped);
        if (!out) snprintf(err, errlen, "%s resize to %lldx%lld failed (out of memory?)", method, (long long)w, (long long)h);
        return out;
    }
    arena *a = arena_new();
    arena *prev = a ? arena_use(a) : NULL;
    tensor *y = a ? op_interpolate(cropped ? cropped : x, h, w, kind) : NULL;
    tensor *out = y ? tensor_keep(y) : NULL;
    if (a) { arena_use(prev); arena_free(a); }
    tensor_free(cropped);
    if (!out) snprintf(err, errlen, "resize to %lldx%lld failed (out of memory?)", (long long)w, (long long)h);
    return out;
}

static tensor *permute4(const tensor *x, int to_nchw) {
    int64_t n = x->ne[0], a = x->ne[1], b = x->ne[2], c = x->ne[3];
    /* nhwc (n, h=a, w=b, c) -> (n, c, a, b); nchw (n, c=a, h=b, w=c) -> (n, b, c, a) */
    int64_t ne[4] = { n, to_nchw ? c : b, to_nchw ? a : c, to_nchw ? b : a };
    tensor *o = x->ndim == 4 && x->dt == DT_F32 ? tensor_new(DT_F32, 4, ne) : NULL;
    if (!o) return NULL;
    const float *s = x->data;
    float *d = o->data;
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = 0; p < a; p++)
            for (int64_t q = 0; q < b; q++)
                for (int64_t r = 0; r < c; r++) {
                    float v = s[((i * a + p) * b + q) * c + r];
                    if (to_nchw) d[((i * c + r) * a + p) * b + q] = v;
                    else d[((i * b + q) * c + r) * a + p] = v;
                }
    return o;
}

tensor *nhwc_to_nchw(const tensor *x) { return permute4(x, 1); }
tensor *nchw_to_nhwc(const tensor *x) { return permute4(x, 0); }
