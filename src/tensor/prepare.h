/* prepare.h -- weights in the layout and dtype their primitive wants, made once.
 *
 * When a primitive was created with format `any` (O2+) or in a compute dtype other
 * than the stored one, its weights must be reordered. For a persistent weight (heap or
 * mmapped, not an arena activation) that reorder happens on first use and the result
 * stays on the tensor (tensor.prepared) until tensor_free; later calls pass it as is.
 * A weight used by a primitive that wants a different layout is re-prepared.
 *
 * A model weight (T_OWNED_APART, bound in the compute dtype) whose prepared copy has its
 * dtype is then held once: the plain storage is freed and `data` is NULL. A primitive
 * that wants the plain layout after that (another --opt-level in the same process) gets
 * the prepared copy, reordered per call by dnn_exec_any. int8 copies are lossy and keep
 * the plain data.
 */
#ifndef CI_PREPARE_H
#define CI_PREPARE_H

#include "tensor/dnn.h"

/* The DNNL_ARG_WEIGHTS argument for w in e: its prepared copy when the primitive wants
 * one, else the plain data with md `plain` (then dnn_exec_any reorders per call). */
dnn_arg prepare_weights_arg(const tensor *w, const pentry *e, const dnnl_memory_desc_t *plain);
/* The int8 weights argument: w quantized to s8 with one symmetric scale per output
 * channel (dim oc_dim of `plain`; rows of w's storage), made once and kept like any
 * prepared copy. *scales gets the per-channel scales (NULL on failure). */
dnn_arg prepare_weights_int8(const tensor *w, const pentry *e, const dnnl_memory_desc_t *plain,
                             int oc_dim, const float **scales);

#endif
