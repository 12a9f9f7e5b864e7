/* dnn.h -- the glue every op uses to speak oneDNN: descriptors, attributes, execution.
 *
 * Ops describe operands as (memory descriptor, host pointer) pairs. On the cpu engine a
 * pointer is wrapped as is; on the xpu engine dnn_exec copies inputs into device memory
 * and the destination back, so op code is the same for both engines.
 */
#ifndef CI_DNN_H
#define CI_DNN_H

#include <oneapi/dnnl/dnnl.h>

#include "tensor/ops.h"
#include "tensor/pcache.h"

/* Op ids for cache keys. */
enum { PK_CONV = 1, PK_MATMUL, PK_LNORM, PK_GNORM_AFFINE, PK_SOFTMAX, PK_ELTWISE, PK_BINARY,
       PK_CONCAT, PK_REORDER, PK_RESAMPLE, PK_QUANT };

dnnl_data_type_t dnn_dt(dtype dt);
/* Plain row-major descriptor. */
void dnn_md(dnnl_memory_desc_t *md, dtype dt, int nd, const int64_t *dims);
void dnn_md_strided(dnnl_memory_desc_t *md, dtype dt, int nd, const int64_t *dims,
                    const int64_t *strides);
void dnn_md_of(dnnl_memory_desc_t *md, const tensor *t);
/* md's dims and strides with data type dt; with `any`, format any instead of strides. */
void dnn_md_as(dnnl_memory_desc_t *out, const dnnl_memory_desc_t *md, dtype dt, int any);
/* Row-major strides of a shape. */
void dnn_strides(int nd, const int64_t *dims, int64_t *strides);

typedef struct dnn_arg {
    int arg;                         /* DNNL_ARG_* */
    const dnnl_memory_desc_t *md;
    void *ptr;
} dnn_arg;

/* Runs the primitive on the current stream and waits. 0, or -1 (logged). In plan mode
 * (ops.h) it returns 0 at once: the one place execution is skipped. */
int dnn_exec(const pentry *e, int n, const dnn_arg *args);

/* Like dnn_exec, but args come in the layouts the caller has (plain); where the primitive
 * was created with format `any` and chose another layout, inputs are reordered into
 * scratch first and DNNL_ARG_DST back afterwards (the destination also in, when
 * dst_is_input: a fused sum reads it). */
int dnn_exec_any(const pentry *e, int n, const dnn_arg *args, int dst_is_input);

/* oneDNN eltwise algorithm for an activation. */
void dnn_act(act_kind act, dnnl_alg_kind_t *alg, float *alpha);
/* Attribute with post-ops [x scale] then [act] then [sum] (each optional), or, with
 * res_md, [+ binary operand res_md] in place of sum: it reads the residual directly
 * instead of from a destination pre-filled with it. The binary operand is post-op
 * number dnn_attr_res_index(scale, act). Caller destroys. */
dnnl_primitive_attr_t dnn_attr(float scale, act_kind act, int sum, const dnnl_memory_desc_t *res_md);
/* dnn_attr with the binary post-op's algorithm chosen (dnnl_binary_mul: a gate). */
dnnl_primitive_attr_t dnn_attr_binary(float scale, act_kind act, int sum,
                                      const dnnl_memory_desc_t *res_md, dnnl_alg_kind_t res_alg);
int dnn_attr_res_index(float scale, act_kind act);
/* Logs a failed oneDNN call; returns -1 so callers can `return dnn_fail(...)`. */
int dnn_fail(const char *what, dnnl_status_t st);

#endif
