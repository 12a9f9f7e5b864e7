/* tensor_ref.c -- see tensor_ref.h. */
#include "tensor_ref.h"
#include "tensor/tensor_internal.h"

#include <math.h>
#include <stdlib.h>

float ref_uniform(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (float)((*s >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

tensor *ref_rand(uint64_t *seed, int ndim, const int64_t *ne) {
    tensor *t = tensor_new(DT_F32, ndim, ne);
    float *p = t->data;
    for (int64_t i = 0; i < tensor_numel(t); i++) p[i] = ref_uniform(seed);
    return t;
}

double ref_rel_err(const tensor *got, const double *want, int64_t n) {
    double maxd = 0.0, maxw = 1e-30;
    if (!got || tensor_numel(got) != n) return INFINITY;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)tensor_get_f32(got, i) - want[i]);
        if (!(d <= maxd)) maxd = d;           /* NaN propagates as the max */
        if (fabs(want[i]) > maxw) maxw = fabs(want[i]);
    }
    return maxd / maxw;
}

double *alloc_ref(int64_t n) { return calloc((size_t)n, sizeof(double)); }

double ref_act(double x, act_kind a) {
    switch (a) {
    case ACT_SILU: return x / (1.0 + exp(-x));
    case ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case ACT_GELU_TANH:
        return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case ACT_QUICK_GELU: return x / (1.0 + exp(-1.702 * x));
    case ACT_RELU: return x > 0 ? x : 0;
    default: return x;
    }
}

void ref_softmax_row(double *row, int64_t n) {
    double m = -INFINITY, s = 0;
    for (int64_t i = 0; i < n; i++) m = row[i] > m ? row[i] : m;
    for (int64_t i = 0; i < n; i++) s += (row[i] = exp(row[i] - m));
    for (int64_t i = 0; i < n; i++) row[i] /= s;
}

void ref_conv2d(const tensor *x, const tensor *w, const tensor *b, int stride, int pad,
                int groups, double *out) {
    int64_t N = x->ne[0], C = x->ne[1], H = x->ne[2], W = x->ne[3], K = w->ne[0];
    int64_t R = w->ne[2], S = w->ne[3];
    int64_t OH = (H + 2 * pad - R) / stride + 1, OW = (W + 2 * pad - S) / stride + 1;
    const float *xp = x->data, *wp = w->data;
    int64_t cg = C / groups, kg = K / groups;
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t oy = 0; oy < OH; oy++)
                for (int64_t ox = 0; ox < OW; ox++) {
                    double acc = b ? ((const float *)b->data)[k] : 0.0;
                    int64_t g = k / kg;
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t r = 0; r < R; r++)
                            for (int64_t s = 0; s < S; s++) {
                                int64_t iy = oy * stride - pad + r, ix = ox * stride - pad + s;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                acc += (double)xp[((n * C + g * cg + c) * H + iy) * W + ix] *
                                       wp[((k * cg + c) * R + r) * S + s];
                            }
                    out[((n * K + k) * OH + oy) * OW + ox] = acc;
                }
}

void ref_linear(const tensor *x, const tensor *w, const tensor *b, double *out) {
    int64_t in = w->ne[1], o = w->ne[0], M = tensor_numel(x) / in;
    const float *xp = x->data, *wp = w->data;
    for (int64_t m = 0; m < M; m++)
        for (int64_t j = 0; j < o; j++) {
            double acc = b ? ((const float *)b->data)[j] : 0.0;
            for (int64_t i = 0; i < in; i++) acc += (double)xp[m * in + i] * wp[j * in + i];
            out[m * o + j] = acc;
        }
}

void ref_attention(const tensor *q, const tensor *k, const tensor *v, int heads,
                   const tensor *mask, double *out) {
    int64_t B = q->ne[0], Lq = q->ne[1], Lk = k->ne[1], HD = q->ne[2], D = HD / heads;
    const float *qp = q->data, *kp = k->data, *vp = v->data;
    double *s = alloc_ref(Lk);
    for (int64_t b = 0; b < B; b++)
        for (int h = 0; h < heads; h++)
            for (int64_t i = 0; i < Lq; i++) {
                for (int64_t j = 0; j < Lk; j++) {
                    double acc = 0;
                    for (int64_t d = 0; d < D; d++)
                        acc += (double)qp[(b * Lq + i) * HD + h * D + d] *
                               kp[(b * Lk + j) * HD + h * D + d];
                    s[j] = acc / sqrt((double)D) +
                           (mask ? ((const float *)mask->data)[i * Lk + j] : 0.0);
                }
                ref_softmax_row(s, Lk);
                for (int64_t d = 0; d < D; d++) {
                    double acc = 0;
                    for (int64_t j = 0; j < Lk; j++) acc += s[j] * vp[(b * Lk + j) * HD + h * D + d];
                    out[(b * Lq + i) * HD + h * D + d] = acc;
                }
            }
    free(s);
}
