/* tensor.h -- the one tensor type every layer above shares.
 *
 * A tensor is a dtype, up to five dims in row-major order (ne[ndim-1] varies fastest)
 * and a block of storage that is either owned (heap), borrowed (a view into an mmapped
 * checkpoint or a caller's buffer) or carved from an arena (activations of one model
 * call). Prepared weights additionally carry the backend's opaque handle to a copy in
 * the layout and dtype their primitive prefers. `data` then stays the plain original,
 * except for a model weight (T_OWNED_APART) whose prepared copy holds the same values:
 * its plain storage is dropped so the weight is held once, `data` becomes NULL and ops
 * read the prepared copy instead (see prepare.h).
 *
 * This header is a contract between tensor/ (which implements it) and models/, io/,
 * sampling/ and the node packs (which use it): extend it, do not change meanings.
 */
#ifndef CI_TENSOR_H
#define CI_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    DT_F32, DT_F16, DT_BF16, DT_F64,
    DT_I8, DT_U8, DT_I16, DT_I32, DT_I64, DT_BOOL,
    DT_F8_E4M3, DT_F8_E5M2,
    DT_COUNT
} dtype;

#define T_MAX_DIMS 5

/* T_OWNED_APART: owned, with the storage a heap block of its own (model weights), so
 * that it can be dropped while the tensor lives on as its prepared copy. */
enum tensor_storage { T_OWNED, T_BORROWED, T_ARENA, T_OWNED_APART };

typedef struct tensor {
    dtype dt;
    int ndim;
    int64_t ne[T_MAX_DIMS];   /* shape; unused dims are 1 */
    void *data;               /* host storage, row-major, contiguous */
    size_t nbytes;
    enum tensor_storage storage;
    void *prepared;           /* backend-private prepared copy (weights), or NULL */
} tensor;

size_t dtype_size(dtype dt);
const char *dtype_name(dtype dt);                /* "F32", "F16", ... as safetensors spells it */
int dtype_from_name(const char *name, dtype *out); /* 0 on success, -1 unknown */

int64_t tensor_numel(const tensor *t);
/* Heap tensor, zero-filled. Returns NULL on overflow or out of memory. */
tensor *tensor_new(dtype dt, int ndim, const int64_t *ne);
/* Borrowed view of existing storage (not freed by tensor_free). */
tensor *tensor_view(dtype dt, int ndim, const int64_t *ne, void *data);
void tensor_free(tensor *t);   /* also drops `prepared`; a no-op on arena tensors */
/* Same storage, new shape with the same element count (-1 infers one dim). */
int tensor_reshape(tensor *t, int ndim, const int64_t *ne);
/* Owned f32 copy of any float/int tensor (f16, bf16, f8 widened exactly). */
tensor *tensor_to_f32(const tensor *t);
/* A model weight: t's values in dt (f32, f16 or bf16; narrowing rounds to nearest even,
 * as torch's .to() and oneDNN's reorders do), T_OWNED_APART. NULL on out of memory or
 * another dt. */
tensor *tensor_weight_copy(const tensor *t, dtype dt);
/* Bytes t really holds on the heap: its owned plain storage (unless dropped) plus its
 * prepared copy. 0 for views and arena tensors without a prepared copy. */
size_t tensor_held_bytes(const tensor *t);

#endif
