/* dnn.c -- see dnn.h. */
#include "tensor/dnn.h"
#include "tensor/ops_internal.h"
#include "backend/engine.h"
#include "base/log.h"
#include "tensor/optime.h"

#include <oneapi/dnnl/dnnl_debug.h>
#include <string.h>

dnnl_data_type_t dnn_dt(dtype dt) {
    switch (dt) {
    case DT_F32: return dnnl_f32;
    case DT_F16: return dnnl_f16;
    case DT_BF16: return dnnl_bf16;
    case DT_I8: return dnnl_s8;
    case DT_U8: return dnnl_u8;
    case DT_I32: return dnnl_s32;
    default: return dnnl_data_type_undef;
    }
}

void dnn_strides(int nd, const int64_t *dims, int64_t *strides) {
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i] > 0 ? dims[i] : 1;
    }
}

void dnn_md_strided(dnnl_memory_desc_t *md, dtype dt, int nd, const int64_t *dims,
                    const int64_t *strides) {
    dnnl_dims_t d = {0}, s = {0};
    for (int i = 0; i < nd && i < DNNL_MAX_NDIMS; i++) {
        d[i] = dims[i];
        s[i] = strides[i];
    }
    memset(md, 0, sizeof *md);
    dnnl_memory_desc_init_by_strides(md, nd, d, dnn_dt(dt), s);
}

void dnn_md(dnnl_memory_desc_t *md, dtype dt, int nd, const int64_t *dims) {
    int64_t st[DNNL_MAX_NDIMS];
    dnn_strides(nd, dims, st);
    dnn_md_strided(md, dt, nd, dims, st);
}

void dnn_md_as(dnnl_memory_desc_t *out, const dnnl_memory_desc_t *md, dtype dt, int any) {
    dnnl_dims_t dims;
    for (int i = 0; i < md->ndims; i++) dims[i] = md->dims[i];
    if (any) {
        memset(out, 0, sizeof *out);
        dnnl_memory_desc_init_by_tag(out, md->ndims, dims, dnn_dt(dt), dnnl_format_tag_any);
    } else {
        dnn_md_strided(out, dt, md->ndims, dims, md->format_desc.blocking.strides);
    }
}

void dnn_md_of(dnnl_memory_desc_t *md, const tensor *t) {
    /* oneDNN has no 0-d memory: a scalar is a 1-d tensor of one element. */
    int64_t one = 1;
    if (t->ndim == 0) dnn_md(md, t->dt, 1, &one);
    else dnn_md(md, t->dt, t->ndim, t->ne);
}

int dnn_fail(const char *what, dnnl_status_t st) {
    log_error("oneDNN %s failed: %s", what, dnnl_status2str(st));
    return -1;
}

/* Device memory holding a copy of host bytes (xpu engine). */
static dnnl_memory_t dnn_to_device(const dnnl_memory_desc_t *md, const void *ptr) {
    dnnl_memory_t m = NULL;
    if (dnnl_memory_create(&m, md, backend_engine(), DNNL_MEMORY_ALLOCATE) != dnnl_success)
        return NULL;
    void *mapped = NULL;
    if (ptr && dnnl_memory_map_data(m, &mapped) == dnnl_success) {
        memcpy(mapped, ptr, dnnl_memory_desc_get_size(md));
        dnnl_memory_unmap_data(m, mapped);
    }
    return m;
}

static void dnn_from_device(dnnl_memory_t m, const dnnl_memory_desc_t *md, void *ptr) {
    void *mapped = NULL;
    if (dnnl_memory_map_data(m, &mapped) == dnnl_success) {
        memcpy(ptr, mapped, dnnl_memory_desc_get_size(md));
        dnnl_memory_unmap_data(m, mapped);
    }
}

static _Thread_local int dnn_planning;

int ops_plan_set(int on) {
    int was = dnn_planning;
    dnn_planning = on;
    return was;
}

int ops_planning(void) { return dnn_planning; }

uint64_t ops_primitives_created(void) {
    uint64_t entries, hits, misses;
    pcache_stats(&entries, &hits, &misses);
    return misses;
}

dtype ops_weight_dt(void) { return backend_compute_dt(); }

/* The kernel clock's kind for a primitive (optime.h). */
static optime_kind dnn_optime_kind(const pentry *e) {
    dnnl_primitive_kind_t k = dnnl_undefined_primitive;
    dnnl_primitive_desc_query(e->pd, dnnl_query_primitive_kind, 0, &k);
    switch (k) {
    case dnnl_convolution: return OT_CONV;
    case dnnl_matmul: case dnnl_inner_product: return OT_MATMUL;
    case dnnl_layer_normalization: case dnnl_batch_normalization: return OT_NORM;
    case dnnl_eltwise: case dnnl_binary: case dnnl_softmax: return OT_ELTWISE;
    case dnnl_reorder: return OT_REORDER;
    default: return OT_OTHER_PRIM;
    }
}

int dnn_exec(const pentry *e, int n, const dnn_arg *args) {
    enum { MAXARGS = 16 };
    if (dnn_planning) return 0;
    dnnl_exec_arg_t ex[MAXARGS];
    int gpu = backend_on_gpu(), rc = 0;
    if (n > MAXARGS) return dnn_fail("exec (too many args)", dnnl_invalid_arguments);
    for (int i = 0; i < n; i++) {
        ex[i].arg = args[i].arg;
        ex[i].memory = NULL;
        dnnl_status_t st = dnnl_success;
        if (gpu) {
            ex[i].memory = dnn_to_device(args[i].md, args[i].ptr);
            if (!ex[i].memory) st = dnnl_out_of_memory;
        } else {
            st = dnnl_memory_create(&ex[i].memory, args[i].md, backend_engine(), args[i].ptr);
        }
        if (st != dnnl_success) {
            rc = dnn_fail("memory_create", st);
            n = i;
            break;
        }
    }
    if (rc == 0) {
        uint64_t t0 = optime_start();
        dnnl_status_t st = dnnl_primitive_execute(e->prim, backend_stream(), n, ex);
        if (st == dnnl_success) st = dnnl_stream_wait(backend_stream());
        if (st != dnnl_success) rc = dnn_fail("execute", st);
        optime_add(dnn_optime_kind(e), t0);
    }
    for (int i = 0; i < n; i++) {
        if (rc == 0 && gpu && args[i].arg == DNNL_ARG_DST)
            dnn_from_device(ex[i].memory, args[i].md, args[i].ptr);
        dnnl_memory_destroy(ex[i].memory);
    }
    return rc;
}

void dnn_act(act_kind act, dnnl_alg_kind_t *alg, float *alpha) {
    *alpha = 0.0f;
    switch (act) {
    case ACT_SILU: *alg = dnnl_eltwise_swish; *alpha = 1.0f; break;
    case ACT_GELU: *alg = dnnl_eltwise_gelu_erf; break;
    case ACT_GELU_TANH: *alg = dnnl_eltwise_gelu_tanh; break;
    case ACT_QUICK_GELU: *alg = dnnl_eltwise_swish; *alpha = 1.702f; break;
    case ACT_RELU: *alg = dnnl_eltwise_relu; break;
    default: *alg = dnnl_eltwise_linear; *alpha = 1.0f; break;
    }
}

int dnn_attr_res_index(float scale, act_kind act) { return (scale != 1.0f) + (act != ACT_NONE); }

dnnl_primitive_attr_t dnn_attr(float scale, act_kind act, int sum, const dnnl_memory_desc_t *res_md) {
    return dnn_attr_binary(scale, act, sum, res_md, dnnl_binary_add);
}

dnnl_primitive_attr_t dnn_attr_binary(float scale, act_kind act, int sum,
                                      const dnnl_memory_desc_t *res_md, dnnl_alg_kind_t res_alg) {
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
    if (scale == 1.0f && act == ACT_NONE && !sum && !res_md) return attr;
    dnnl_post_ops_create(&po);
    if (scale != 1.0f) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, scale, 0.0f);
    if (act != ACT_NONE) {
        dnnl_alg_kind_t alg;
        float alpha;
        dnn_act(act, &alg, &alpha);
        dnnl_post_ops_append_eltwise(po, 1.0f, alg, alpha, 0.0f);
    }
    if (res_md) dnnl_post_ops_append_binary(po, res_alg, res_md);
    else if (sum) dnnl_post_ops_append_sum(po, 1.0f);
    dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_post_ops_destroy(po);
    return attr;
}

int dnn_exec_any(const pentry *e, int n, const dnn_arg *args, int dst_is_input) {
    enum { MAXARGS = 16 };
    dnn_arg conv[MAXARGS] = {{0}};
    if (n > MAXARGS) return dnn_fail("exec (too many args)", dnnl_invalid_arguments);
    scratch s;
    scratch_begin(&s);
    int rc = 0, dst_at = -1;
    for (int i = 0; i < n && rc == 0; i++) {
        conv[i] = args[i];
        const dnnl_memory_desc_t *want =
            dnnl_primitive_desc_query_md(e->pd, dnnl_query_exec_arg_md, args[i].arg);
        /* Scales and other attribute args have no layout to convert. */
        if (!want || want->ndims == 0 || dnnl_memory_desc_equal(want, args[i].md)) continue;
        conv[i].md = want;
        conv[i].ptr = scratch_alloc(&s, dnnl_memory_desc_get_size(want));
        if (!conv[i].ptr) rc = dnn_fail("scratch", dnnl_out_of_memory);
        else if (args[i].arg == DNNL_ARG_DST) dst_at = i;
        if (rc == 0 && (args[i].arg != DNNL_ARG_DST || dst_is_input))
            rc = run_reorder(args[i].md, args[i].ptr, want, conv[i].ptr);
    }
    if (rc == 0) rc = dnn_exec(e, n, conv);
    if (rc == 0 && dst_at >= 0)
        rc = run_reorder(conv[dst_at].md, conv[dst_at].ptr, args[dst_at].md, args[dst_at].ptr);
    scratch_end(&s);
    return rc;
}
