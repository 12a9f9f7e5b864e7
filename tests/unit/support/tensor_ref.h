/* tensor_ref.h -- helpers for op tests: random tensors and error against a reference. */
#ifndef CI_TENSOR_REF_H
#define CI_TENSOR_REF_H

#include "tensor/tensor.h"

/* f32 tensor of uniform values in [-1, 1) from a fixed xorshift stream. */
tensor *ref_rand(uint64_t *seed, int ndim, const int64_t *ne);
float ref_uniform(uint64_t *seed);
/* max |got - want| / max |want| (want in double); got may be f32/f16/bf16. */
double ref_rel_err(const tensor *got, const double *want, int64_t n);

#endif
