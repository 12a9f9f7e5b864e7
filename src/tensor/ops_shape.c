/* ops_shape.c -- concat, slice, permute and dtype casts: all data movement.
 *
 * Concat is oneDNN's concat primitive; slice and permute are reorders from a strided
 * view of the source; casts between float types and from small ints are reorders.
 * Casts oneDNN cannot express (f64, i64, i16, bool, f8, and float -> int, where torch
 * truncates toward zero while a reorder rounds) are a plain loop.
 */
#include "tensor/ops_internal.h"
#include "backend/engine.h"
#include "tensor/half.h"

#include <math.h>
#include <string.h>

typedef struct {
    dnnl_memory_desc_t src[2], dst;
    int axis;
} concat_ctx;

static dnnl_primitive_desc_t make_concat(void *p) {
    concat_ctx *c = p;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_concat_primitive_desc_create(&pd, &c->dst, 2, c->axis, c->src, NULL, backend_engine());
    return pd;
}

tensor *op_concat(const tensor *a, const tensor *b, int axis) {
    if (!a || !b) return NULL;
    if (axis < 0) axis += a->ndim;
    if (a->dt != b->dt || a->ndim != b->ndim || axis < 0 || axis >= a->ndim)
        return OPS_BAD("op_concat", "operands differ in dtype or rank, or bad axis");
    int64_t ne[T_MAX_DIMS];
    for (int i = 0; i < a->ndim; i++) {
        if (i != axis && a->ne[i] != b->ne[i])
            return OPS_BAD("op_concat", "dim %d differs: %lld vs %lld", i, (long long)a->ne[i],
                           (long long)b->ne[i]);
        ne[i] = i == axis ? a->ne[i] + b->ne[i] : a->ne[i];
    }
    tensor *y = ops_out(a->dt, a->ndim, ne);
    if (!y || tensor_numel(y) == 0) return y;
    /* oneDNN rejects zero-sized inputs: an empty side is a copy of the other. */
    if (tensor_numel(a) == 0 || tensor_numel(b) == 0) {
        const tensor *s = tensor_numel(a) ? a : b;
        memcpy(y->data, s->data, s->nbytes);
        return y;
    }
    concat_ctx c = {.axis = axis};
    dnn_md_of(&c.src[0], a);
    dnn_md_of(&c.src[1], b);
    dnn_md_of(&c.dst, y);
    pkey k;
    pkey_init(&k, PK_CONCAT);
    pkey_push(&k, axis);
    pkey_tensor(&k, a);
    pkey_tensor(&k, b);
    const pentry *e = pcache_get(&k, make_concat, &c);
    if (!e) return dnn_fail("concat primitive", dnnl_unimplemented), NULL;
    dnn_arg args[] = {{DNNL_ARG_MULTIPLE_SRC, &c.src[0], a->data},
                      {DNNL_ARG_MULTIPLE_SRC + 1, &c.src[1], b->data},
                      {DNNL_ARG_DST, &c.dst, y->data}};
    return dnn_exec(e, 3, args) ? NULL : y;
}

tensor *op_slice(const tensor *x, int axis, int64_t start, int64_t len) {
    if (!x) return NULL;
    if (axis < 0) axis += x->ndim;
    if (axis < 0 || axis >= x->ndim || start < 0 || len < 0 || start + len > x->ne[axis])
        return OPS_BAD("op_slice", "axis %d [%lld, +%lld) out of range", axis, (long long)start,
                       (long long)len);
    if (dnn_dt(x->dt) == dnnl_data_type_undef)
        return OPS_BAD("op_slice", "dtype %s", dtype_name(x->dt));
    int64_t ne[T_MAX_DIMS], st[T_MAX_DIMS];
    memcpy(ne, x->ne, sizeof ne);
    ne[axis] = len;
    tensor *y = ops_out(x->dt, x->ndim, ne);
    if (!y || tensor_numel(y) == 0) return y;
    dnn_strides(x->ndim, x->ne, st);
    dnnl_memory_desc_t ms, md;
    dnn_md_strided(&ms, x->dt, x->ndim, ne, st);
    dnn_md_of(&md, y);
    char *src = (char *)x->data + start * st[axis] * (int64_t)dtype_size(x->dt);
    return run_reorder(&ms, src, &md, y->data) ? NULL : y;
}

tensor *op_permute(const tensor *x, const int *perm) {
    if (!x) return NULL;
    if (dnn_dt(x->dt) == dnnl_data_type_undef)
        return OPS_BAD("op_permute", "dtype %s", dtype_name(x->dt));
    int64_t ne[T_MAX_DIMS], st[T_MAX_DIMS], pst[T_MAX_DIMS];
    int seen = 0;
    dnn_strides(x->ndim, x->ne, st);
    for (int i = 0; i < x->ndim; i++) {
        if (perm[i] < 0 || perm[i] >= x->ndim || (seen & (1 << perm[i])))
            return OPS_BAD("op_permute", "not a permutation");
        seen |= 1 << perm[i];
        ne[i] = x->ne[perm[i]];
        pst[i] = st[perm[i]];
    }
    tensor *y = ops_out(x->dt, x->ndim, ne);
    if (!y || tensor_numel(y) == 0) return y;
    dnnl_memory_desc_t ms, md;
    dnn_md_strided(&ms, x->dt, x->ndim, ne, pst);
    dnn_md_of(&md, y);
    return run_reorder(&ms, x->data, &md, y->data) ? NULL : y;
}

static int cast_is_float(dtype dt) { return dt == DT_F32 || dt == DT_F16 || dt == DT_BF16; }

/* Stores v as dt the way torch's .to(dt) does: floats round to nearest even,
 * integers truncate toward zero (NaN -> 0, out of range saturates), bool is v != 0. */
static void cast_store(void *p, int64_t i, dtype dt, double v) {
    double t = isnan(v) ? 0.0 : trunc(v);
    switch (dt) {
    case DT_F32: ((float *)p)[i] = (float)v; break;
    case DT_F16: ((uint16_t *)p)[i] = f32_to_half((float)v); break;
    case DT_BF16: ((uint16_t *)p)[i] = f32_to_bf16((float)v); break;
    case DT_F64: ((double *)p)[i] = v; break;
    case DT_I8: ((int8_t *)p)[i] = (int8_t)fmax(-128.0, fmin(127.0, t)); break;
    case DT_U8: ((uint8_t *)p)[i] = (uint8_t)fmax(0.0, fmin(255.0, t)); break;
    case DT_I16: ((int16_t *)p)[i] = (int16_t)fmax(-32768.0, fmin(32767.0, t)); break;
    case DT_I32: ((int32_t *)p)[i] = (int32_t)fmax(-2147483648.0, fmin(2147483647.0, t)); break;
    case DT_I64: ((int64_t *)p)[i] = (int64_t)fmax(-9.2233720368547758e18, fmin(9.2233720368547748e18, t)); break;
    case DT_BOOL: ((uint8_t *)p)[i] = v != 0.0; break;
    default: break;
    }
}

/* Element i as double, exact for every dtype but i64 beyond 2^53. */
static double cast_load(const tensor *t, int64_t i) {
    switch (t->dt) {
    case DT_F64: return ((const double *)t->data)[i];
    case DT_I32: return ((const int32_t *)t->data)[i];
    case DT_I64: return (double)((const int64_t *)t->data)[i];
    default: return tensor_get_f32(t, i);
    }
}

tensor *op_cast(const tensor *x, dtype dt) {
    if (!x) return NULL;
    if (dt == DT_F8_E4M3 || dt == DT_F8_E5M2 || (unsigned)dt >= DT_COUNT)
        return OPS_BAD("op_cast", "to %s is not supported", dtype_name(dt));
    tensor *y = ops_out(dt, x->ndim, x->ne);
    int64_t n = tensor_numel(x);
    if (!y || n == 0) return y;
    if (x->dt == dt) {
        memcpy(y->data, x->data, x->nbytes);
        return y;
    }
    int via_reorder = dnn_dt(x->dt) != dnnl_data_type_undef && cast_is_float(dt) &&
                      dt != DT_F64;
    if (via_reorder) {
        dnnl_memory_desc_t ms, md;
        dnn_md_of(&ms, x);
        dnn_md_of(&md, y);
        return run_reorder(&ms, x->data, &md, y->data) ? NULL : y;
    }
    #pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; i++) cast_store(y->data, i, dt, cast_load(x, i));
    return y;
}
