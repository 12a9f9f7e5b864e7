/* tensor_ref.h -- helpers for op tests: random tensors and error against a reference. */
#ifndef CI_TENSOR_REF_H
#define CI_TENSOR_REF_H

#include "tensor/ops.h"
#include "tensor/tensor.h"

/* f32 tensor of uniform values in [-1, 1) from a fixed xorshift stream. */
tensor *ref_rand(uint64_t *seed, int ndim, const int64_t *ne);
float ref_uniform(uint64_t *seed);
/* max |got - want| / max |want| (want in double); got may be f32/f16/bf16. */
double ref_rel_err(const tensor *got, const double *want, int64_t n);

double *alloc_ref(int64_t n);                 /* zeroed doubles; free() them */
double ref_act(double x, act_kind a);
void ref_softmax_row(double *row, int64_t n);
/* The op's definition in double, from f32 operands (bias may be NULL). */
void ref_conv2d(const tensor *x, const tensor *w, const tensor *b, int stride, int pad,
                int groups, double *out);
void ref_linear(const tensor *x, const tensor *w, const tensor *b, double *out);
void ref_attention(const tensor *q, const tensor *k, const tensor *v, int heads,
                   const tensor *mask, double *out);

#endif
