/* ops_resample.c -- interpolate as torch.nn.functional.interpolate computes it.
 *
 * oneDNN's resampling primitive covers:
 *   nearest-exact: its nearest index round((o + 0.5) * in/out - 0.5) is torch's
 *                  floor((o + 0.5) * in/out);
 *   bilinear:      half-pixel source (o + 0.5) * in/out - 0.5, clamped at the edges,
 *                  as torch with align_corners=False;
 *   nearest:       torch's legacy floor(o * in/out) equals the above only when out is
 *                  a whole multiple of in (upsample x2 and the like).
 * Plain loops do the rest: legacy nearest at other ratios, bicubic (a = -0.75,
 * taps clamped to the border) and area (adaptive average pooling windows
 * [floor(o*in/out), ceil((o+1)*in/out))). They run on the host on either engine.
 *
 * Channels last (NHWC), legacy nearest is one loop at every ratio: an output pixel is
 * a copy of one input pixel's C contiguous values, the same indices as above.
 */
#include "tensor/ops_internal.h"
#include "backend/engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct { dnnl_memory_desc_t src, dst; dnnl_alg_kind_t alg; } rs_ctx;

static dnnl_primitive_desc_t make_resample(void *p) {
    rs_ctx *c = p;
    dnnl_resampling_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_resampling_forward_desc_init(&d, dnnl_forward_inference, c->alg, NULL, &c->src,
                                          &c->dst) != dnnl_success)
        return NULL;
    dnnl_primitive_desc_create(&pd, &d, NULL, backend_engine(), NULL);
    return pd;
}

static int run_resample(const tensor *x, tensor *y, dnnl_alg_kind_t alg) {
    rs_ctx c = {.alg = alg};
    dnn_md_of(&c.src, x);
    dnn_md_of(&c.dst, y);
    pkey k;
    pkey_init(&k, PK_RESAMPLE);
    pkey_tensor(&k, x);
    pkey_tensor(&k, y);
    pkey_push(&k, alg);
    const pentry *e = pcache_get(&k, make_resample, &c);
    if (!e) return dnn_fail("resampling primitive", dnnl_unimplemented);
    dnn_arg a[] = {{DNNL_ARG_SRC, &c.src, x->data}, {DNNL_ARG_DST, &c.dst, y->data}};
    return dnn_exec(e, 2, a);
}

/* torch's cubic convolution weights for distance t in [0, 1), A = -0.75. */
static void cubic_weights(float t, float w[4]) {
    const float A = -0.75f;
    float x;
    x = t + 1.0f; w[0] = ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    x = t;        w[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
    x = 1.0f - t; w[2] = ((A + 2) * x - (A + 3)) * x * x + 1;
    x = 2.0f - t; w[3] = ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
}

static int64_t clampi(int64_t v, int64_t hi) { return v < 0 ? 0 : v > hi ? hi : v; }

/* torch's legacy nearest source index of output o, scale = in / out as a float. */
static int64_t nearest_src(int64_t o, float scale, int64_t in) {
    return clampi((int64_t)floorf((float)o * scale), in - 1);
}

/* One output plane of the hand-written modes, f32 in and out. */
static void resample_plane(const float *in, int64_t ih, int64_t iw, float *out, int64_t oh,
                           int64_t ow, interp_kind mode) {
    float sh = (float)ih / (float)oh, sw = (float)iw / (float)ow;
    for (int64_t y = 0; y < oh; y++) {
        for (int64_t x = 0; x < ow; x++) {
            float v = 0.0f;
            if (mode == INTERP_NEAREST) {
                v = in[nearest_src(y, sh, ih) * iw + nearest_src(x, sw, iw)];
            } else if (mode == INTERP_BICUBIC) {
                float fy = ((float)y + 0.5f) * sh - 0.5f, fx = ((float)x + 0.5f) * sw - 0.5f;
                int64_t y0 = (int64_t)floorf(fy), x0 = (int64_t)floorf(fx);
                float wy[4], wx[4];
                cubic_weights(fy - (float)y0, wy);
                cubic_weights(fx - (float)x0, wx);
                for (int i = 0; i < 4; i++) {
                    const float *r = in + clampi(y0 - 1 + i, ih - 1) * iw;
                    float acc = 0.0f;
                    for (int j = 0; j < 4; j++) acc += wx[j] * r[clampi(x0 - 1 + j, iw - 1)];
                    v += wy[i] * acc;
                }
            } else {   /* INTERP_AREA */
                int64_t y0 = y * ih / oh, y1 = ((y + 1) * ih + oh - 1) / oh;
                int64_t x0 = x * iw / ow, x1 = ((x + 1) * iw + ow - 1) / ow;
                for (int64_t i = y0; i < y1; i++)
                    for (int64_t j = x0; j < x1; j++) v += in[i * iw + j];
                v /= (float)((y1 - y0) * (x1 - x0));
            }
            out[y * ow + x] = v;
        }
    }
}

static int resample_loop(const tensor *x, tensor *y, interp_kind mode) {
    int64_t planes = x->ne[0] * x->ne[1], ih = x->ne[2], iw = x->ne[3], oh = y->ne[2], ow = y->ne[3];
    const tensor *xf = x;
    tensor *tmp = NULL;
    if (x->dt != DT_F32) xf = tmp = tensor_to_f32(x);
    float *out = y->dt == DT_F32 ? y->data : malloc((size_t)(planes * oh * ow) * 4);
    int rc = xf && out ? 0 : -1;
    if (rc == 0) {
        #pragma omp parallel for
        for (int64_t p = 0; p < planes; p++)
            resample_plane((const float *)xf->data + p * ih * iw, ih, iw, out + p * oh * ow, oh,
                           ow, mode);
    }
    if (rc == 0 && out != y->data) {
        int64_t n = planes * oh * ow;
        dnnl_memory_desc_t mf, md;
        dnn_md(&mf, DT_F32, 1, &n);
        dnn_md(&md, y->dt, 1, &n);
        rc = run_reorder(&mf, out, &md, y->data);
    }
    if (out != y->data) free(out);
    tensor_free(tmp);
    return rc;
}

tensor *op_interpolate(const tensor *x, int64_t h, int64_t w, interp_kind mode) {
    if (!x) return NULL;
    if (x->ndim != 4 || h < 1 || w < 1 || !ops_float_dt(x->dt) || mode > INTERP_AREA)
        return OPS_BAD("op_interpolate", "needs float x (N,C,H,W), a size >= 1 and a known mode");
    int64_t ne[4] = {x->ne[0], x->ne[1], h, w};
    tensor *y = ops_out(x->dt, 4, ne);
    if (!y || tensor_numel(y) == 0) return y;
    if (x->ne[2] == 0 || x->ne[3] == 0) return OPS_BAD("op_interpolate", "empty input plane");
    int whole = h % x->ne[2] == 0 && w % x->ne[3] == 0;
    int rc;
    if (mode == INTERP_NEAREST_EXACT || (mode == INTERP_NEAREST && whole))
        rc = run_resample(x, y, dnnl_resampling_nearest);
    else if (mode == INTERP_BILINEAR)
        rc = run_resample(x, y, dnnl_resampling_linear);
    else
        rc = resample_loop(x, y, mode);
    return rc ? NULL : y;
}

tensor *op_upsample_nearest2x(const tensor *x) {
    if (!x) return NULL;
    if (x->ndim != 4) return OPS_BAD("op_upsample_nearest2x", "needs x (N,C,H,W)");
    return op_interpolate(x, x->ne[2] * 2, x->ne[3] * 2, INTERP_NEAREST);
}

tensor *op_interpolate_nearest_nhwc(const tensor *x, int64_t h, int64_t w) {
    if (!x) return NULL;
    if (x->ndim != 4 || h < 1 || w < 1 || !ops_float_dt(x->dt))
        return OPS_BAD("op_interpolate_nearest_nhwc", "needs float x (N,H,W,C) and a size >= 1");
    int64_t N = x->ne[0], ih = x->ne[1], iw = x->ne[2], ne[4] = {N, h, w, x->ne[3]};
    tensor *y = ops_out(x->dt, 4, ne);
    if (!y || tensor_numel(y) == 0) return y;
    if (ih == 0 || iw == 0) return OPS_BAD("op_interpolate_nearest_nhwc", "empty input plane");
    size_t px = (size_t)x->ne[3] * dtype_size(x->dt);
    float sh = (float)ih / (float)h, sw = (float)iw / (float)w;
    #pragma omp parallel for if (N * h * w * x->ne[3] > 65536)
    for (int64_t r = 0; r < N * h; r++) {
        int64_t row = r / h * ih + nearest_src(r % h, sh, ih);
        const char *src = (const char *)x->data + (size_t)(row * iw) * px;
        char *dst = (char *)y->data + (size_t)(r * w) * px;
        for (int64_t o = 0; o < w; o++)
            memcpy(dst + (size_t)o * px, src + (size_t)nearest_src(o, sw, iw) * px, px);
    }
    return y;
}
