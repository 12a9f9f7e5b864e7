/* resize.c -- comfy.utils.common_upscale: optional centre crop, then resampling.
 *
 * nearest-exact, bilinear, bicubic and area are torch.nn.functional.interpolate, which
 * op_interpolate (tensor/ops.h) reproduces; the op runs in a private arena and the
 * result is copied out. ComfyUI's lanczos (through PIL on 8-bit images) and bislerp
 * are not implemented yet and fail with a clear error.
 */
#include "core.h"

#include <math.h>
#include <stdio.h>
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

tensor *core_upscale(const tensor *x, int64_t w, int64_t h, const char *method,
                     const char *crop, char *err, size_t errlen) {
    interp_kind kind;
    if (method_kind(method, &kind) < 0) {
        snprintf(err, errlen, "upscale method '%s' is not supported yet", method ? method : "?");
        return NULL;
    }
    if (x->dt != DT_F32 || x->ndim != 4 || w <= 0 || h <= 0) {
        snprintf(err, errlen, "cannot resize a tensor of %d dims to %lldx%lld", x->ndim, (long long)w, (long long)h);
        return NULL;
    }
    tensor *cropped = crop && !strcmp(crop, "center") ? crop_center(x, w, h) : NULL;
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
