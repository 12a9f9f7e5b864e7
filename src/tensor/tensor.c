/* tensor.c -- tensor bookkeeping: dtypes, heap and borrowed tensors, widening to f32.
 *
 * The struct and its storage are one allocation for owned tensors, so tensor_free is a
 * single free(); model weights (T_OWNED_APART) are two, so their storage can go first.
 * Borrowed tensors own only the struct. Arena tensors own nothing (the
 * arena frees them wholesale), so tensor_free ignores them: callers may free whatever
 * an op returned without asking where it came from.
 */
#include "tensor/tensor.h"
#include "tensor/half.h"
#include "tensor/tensor_internal.h"

#include <stdlib.h>
#include <string.h>

static const struct { const char *name; size_t size; } dtype_info[DT_COUNT] = {
    [DT_F32] = {"F32", 4},  [DT_F16] = {"F16", 2},    [DT_BF16] = {"BF16", 2},
    [DT_F64] = {"F64", 8},  [DT_I8] = {"I8", 1},      [DT_U8] = {"U8", 1},
    [DT_I16] = {"I16", 2},  [DT_I32] = {"I32", 4},    [DT_I64] = {"I64", 8},
    [DT_BOOL] = {"BOOL", 1}, [DT_F8_E4M3] = {"F8_E4M3", 1}, [DT_F8_E5M2] = {"F8_E5M2", 1},
};

size_t dtype_size(dtype dt) { return (unsigned)dt < DT_COUNT ? dtype_info[dt].size : 0; }

const char *dtype_name(dtype dt) { return (unsigned)dt < DT_COUNT ? dtype_info[dt].name : "?"; }

int dtype_from_name(const char *name, dtype *out) {
    for (int i = 0; i < DT_COUNT; i++) {
        if (strcmp(name, dtype_info[i].name) == 0) {
            *out = (dtype)i;
            return 0;
        }
    }
    return -1;
}

int64_t tensor_numel(const tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->ne[i];
    return n;
}

/* Fills shape fields; returns the byte size, or 0 when the shape is invalid or overflows. */
size_t tensor_init_shape(tensor *t, dtype dt, int ndim, const int64_t *ne) {
    if ((unsigned)dt >= DT_COUNT || ndim < 0 || ndim > T_MAX_DIMS) return 0;
    memset(t, 0, sizeof *t);
    t->dt = dt;
    t->ndim = ndim;
    size_t n = dtype_size(dt);
    for (int i = 0; i < T_MAX_DIMS; i++) {
        t->ne[i] = i < ndim ? ne[i] : 1;
        if (t->ne[i] < 0) return 0;
        if (t->ne[i] && n > SIZE_MAX / (size_t)t->ne[i]) return 0;
        n *= (size_t)t->ne[i];
    }
    t->nbytes = n;
    return n ? n : 1;    /* an empty tensor is valid; report nonzero */
}

tensor *tensor_new(dtype dt, int ndim, const int64_t *ne) {
    tensor shape;
    if (!tensor_init_shape(&shape, dt, ndim, ne)) return NULL;
    if (shape.nbytes > SIZE_MAX - 64 - sizeof(tensor)) return NULL;
    /* Storage follows the struct, 64-byte aligned for vector loads. */
    size_t head = (sizeof(tensor) + 63) & ~(size_t)63;
    tensor *t = aligned_alloc(64, (head + shape.nbytes + 63) & ~(size_t)63);
    if (!t) return NULL;
    *t = shape;
    t->storage = T_OWNED;
    t->data = (char *)t + head;
    memset(t->data, 0, t->nbytes);
    return t;
}

tensor *tensor_view(dtype dt, int ndim, const int64_t *ne, void *data) {
    tensor shape;
    if (!tensor_init_shape(&shape, dt, ndim, ne)) return NULL;
    tensor *t = malloc(sizeof *t);
    if (!t) return NULL;
    *t = shape;
    t->storage = T_BORROWED;
    t->data = data;
    return t;
}

void tensor_free(tensor *t) {
    if (!t || t->storage == T_ARENA) return;
    tensor_unprepare(t);
    if (t->storage == T_OWNED_APART) free(t->data);
    free(t);
}

int tensor_reshape(tensor *t, int ndim, const int64_t *ne) {
    if (ndim < 1 || ndim > T_MAX_DIMS) return -1;
    int64_t dims[T_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        dims[i] = ne[i];
        if (ne[i] == -1) {
            if (infer >= 0) return -1;
            infer = i;
        } else if (ne[i] < 0) {
            return -1;
        } else {
            known *= ne[i];
        }
    }
    int64_t total = tensor_numel(t);
    if (infer >= 0) {
        if (known == 0 || total % known) return -1;
        dims[infer] = total / known;
    } else if (known != total) {
        return -1;
    }
    t->ndim = ndim;
    for (int i = 0; i < T_MAX_DIMS; i++) t->ne[i] = i < ndim ? dims[i] : 1;
    return 0;
}

/* Element i of any numeric dtype as float (f64 and i64 may round, as torch's .float()). */
float tensor_get_f32(const tensor *t, int64_t i) {
    const void *p = t->data;
    switch (t->dt) {
    case DT_F32: return ((const float *)p)[i];
    case DT_F16: return half_to_f32(((const uint16_t *)p)[i]);
    case DT_BF16: return bf16_to_f32(((const uint16_t *)p)[i]);
    case DT_F64: return (float)((const double *)p)[i];
    case DT_I8: return ((const int8_t *)p)[i];
    case DT_U8: return ((const uint8_t *)p)[i];
    case DT_I16: return ((const int16_t *)p)[i];
    case DT_I32: return (float)((const int32_t *)p)[i];
    case DT_I64: return (float)((const int64_t *)p)[i];
    case DT_BOOL: return ((const uint8_t *)p)[i] != 0;
    case DT_F8_E4M3: return f8e4m3_to_f32(((const uint8_t *)p)[i]);
    case DT_F8_E5M2: return f8e5m2_to_f32(((const uint8_t *)p)[i]);
    default: return 0.0f;
    }
}

/* Every element of t converted into out (same element count; out f32, f16 or bf16). */
static void tensor_convert_into(tensor *out, const tensor *t) {
    int64_t n = tensor_numel(t);
    if (t->dt == out->dt) {
        memcpy(out->data, t->data, out->nbytes);
        return;
    }
    float *f = out->data;
    uint16_t *h = out->data;
    dtype dt = out->dt;
    #pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float v = tensor_get_f32(t, i);
        if (dt == DT_F32) f[i] = v;
        else h[i] = dt == DT_BF16 ? f32_to_bf16(v) : f32_to_half(v);
    }
}

tensor *tensor_to_f32(const tensor *t) {
    if (!t) return NULL;
    tensor *out = tensor_new(DT_F32, t->ndim, t->ne);
    if (out) tensor_convert_into(out, t);
    return out;
}

tensor *tensor_weight_copy(const tensor *t, dtype dt) {
    if (!t || (dt != DT_F32 && dt != DT_F16 && dt != DT_BF16)) return NULL;
    tensor *out = malloc(sizeof *out);
    if (!out || !tensor_init_shape(out, dt, t->ndim, t->ne)) {
        free(out);
        return NULL;
    }
    out->storage = T_OWNED_APART;
    out->data = aligned_alloc(64, ((out->nbytes | 1) + 63) & ~(size_t)63);   /* never 0 bytes */
    if (!out->data) {
        free(out);
        return NULL;
    }
    tensor_convert_into(out, t);
    return out;
}
