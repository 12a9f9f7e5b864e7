/* ops_internal.h -- helpers the op files share: outputs, scratch, argument checks and
 * the three primitives (eltwise, binary, reorder) that other ops are built from. */
#ifndef CI_OPS_INTERNAL_H
#define CI_OPS_INTERNAL_H

#include "tensor/arena.h"
#include "tensor/dnn.h"
#include "tensor/tensor_internal.h"

/* An op's result: from the thread's arena, or the heap when none is in use. */
tensor *ops_out(dtype dt, int ndim, const int64_t *ne);

/* Scratch that lives until scratch_end: arena space after a mark, or heap blocks. */
typedef struct scratch {
    arena *a;
    arena_mark mark;
    int nheap;
    void *heap[8];
} scratch;
void scratch_begin(scratch *s);
void *scratch_alloc(scratch *s, size_t nbytes);
void scratch_end(scratch *s);

/* Logs "op: message" and evaluates to NULL, for argument checks. */
#define OPS_BAD(op, ...) (ops_bad(op, __VA_ARGS__), (tensor *)NULL)
void ops_bad(const char *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ops_float_dt(dtype dt);   /* dtypes ops compute in: f32, f16, bf16 */

void pkey_md(pkey *k, const dnnl_memory_desc_t *md);

/* dst = act(src) elementwise (alg/alpha/beta as oneDNN's eltwise); same plain layout.
 * In place when src == dst. */
int run_eltwise(const dnnl_memory_desc_t *md, void *src, void *dst, dnnl_alg_kind_t alg,
                float alpha, float beta);
/* dst = src0 (alg) src1, src1 broadcast along its dims of size 1. */
int run_binary(dnnl_alg_kind_t alg, const dnnl_memory_desc_t *md0, void *p0,
               const dnnl_memory_desc_t *md1, void *p1, const dnnl_memory_desc_t *mdd, void *pd);
/* Copy between layouts and dtypes. */
int run_reorder(const dnnl_memory_desc_t *mds, void *ps, const dnnl_memory_desc_t *mdd, void *pd);
/* y = alpha * a @ b over any (strided) descriptors, batch dims broadcasting. */
int run_matmul(const dnnl_memory_desc_t *ma, void *pa, const dnnl_memory_desc_t *mb, void *pb,
               const dnnl_memory_desc_t *my, void *py, float alpha);
/* Softmax over the last axis of (rows, cols); in place when x == y. */
int run_softmax(dtype dt, int64_t rows, int64_t cols, void *x, void *y);
/* dst = src converted to dst's dtype (same element count). */
int ops_copy(tensor *dst, const tensor *src);
/* Activation in place on a plain tensor (ACT_NONE: nothing). */
int run_act_inplace(tensor *t, act_kind act);
/* t = t (alg) r, r holding as many elements as t (read in t's shape). */
int run_binary_inplace(dnnl_alg_kind_t alg, tensor *t, const tensor *r);

#endif
