/* tensor_ref.c -- see tensor_ref.h. */
#include "tensor_ref.h"
#include "tensor/tensor_internal.h"

#include <math.h>

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
