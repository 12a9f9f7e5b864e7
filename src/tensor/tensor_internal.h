/* tensor_internal.h -- what tensor/ files share and no one above needs. */
#ifndef CI_TENSOR_INTERNAL_H
#define CI_TENSOR_INTERNAL_H

#include "tensor/tensor.h"

/* Shape fields of t from (dt, ndim, ne); returns the byte size (nonzero), 0 if invalid. */
size_t tensor_init_shape(tensor *t, dtype dt, int ndim, const int64_t *ne);
/* Element i of any numeric dtype as float. */
float tensor_get_f32(const tensor *t, int64_t i);

/* Drops a prepared copy, if any (tensor_free calls it). */
void tensor_unprepare(tensor *t);

#endif
