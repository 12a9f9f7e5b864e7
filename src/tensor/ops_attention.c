/* ops_attention.c -- multi-head scaled-dot-product attention in bounded memory.
 *
 * Heads stay packed in the last axis (B, L, H*D): the matmuls read q, k and v and
 * write y through strided descriptors that view them as (B, H, L, D), so nothing is
 * transposed. Queries go in slices of S rows so the score block (B, H, S, Lk) stays
 * under ATTN_SCORE_BYTES whatever the resolution; per slice:
 *   scores = q k^T * 1/sqrt(D)  (matmul, scale as a post-op)   [scores += mask rows]
 *   softmax over Lk, in place   y rows = scores v              (matmul into y's view)
 * Every step is a oneDNN primitive; slices of equal size reuse cached primitives.
 * That is the reference path (O0-O2). At O3, on the CPU, f32 and bf16 with heads up to
 * FLASH_MAX_D go to the fused kernel instead (flash_attn.h: online softmax, no score
 * rows in memory), masked calls included.
 * Inputs not in the compute dtype are converted once up front.
 */
#include "tensor/ops_internal.h"
#include "backend/backend.h"
#include "backend/engine.h"
#include "tensor/flash_attn.h"
#include "tensor/flops.h"
#include "tensor/optime.h"

#include <math.h>

#define ATTN_SCORE_BYTES ((int64_t)16 << 20)

typedef struct attn {
    dtype dt;              /* compute dtype: q, k, v, scores, y */
    int64_t B, H, D, Lq, Lk;
    char *q, *k, *v, *y;   /* packed (B, L, H*D) */
    void *sc;              /* scores of one slice (B, H, S, Lk) */
    const float *mask;     /* (Lq, Lk) or NULL */
} attn;

/* Rows [*, *, S, D] of a packed (B, L, H*D) tensor seen as (B, H, S, D); with
 * transpose, as (B, H, D, S). */
static void attn_view(dnnl_memory_desc_t *md, const attn *a, int64_t L, int64_t S, int transpose) {
    int64_t HD = a->H * a->D;
    int64_t dims[4] = {a->B, a->H, S, a->D}, st[4] = {L * HD, a->D, HD, 1};
    if (transpose) {
        dims[2] = a->D;
        dims[3] = S;
        st[2] = 1;
        st[3] = HD;
    }
    dnn_md_strided(md, a->dt, 4, dims, st);
}

static int attn_slice(const attn *a, int64_t s0, int64_t S) {
    size_t row = (size_t)(a->H * a->D) * dtype_size(a->dt);
    dnnl_memory_desc_t qv, kt, sc, vv;
    int64_t scd[4] = {a->B, a->H, S, a->Lk};
    attn_view(&qv, a, a->Lq, S, 0);
    attn_view(&kt, a, a->Lk, a->Lk, 1);
    attn_view(&vv, a, a->Lk, a->Lk, 0);
    dnn_md(&sc, a->dt, 4, scd);
    if (run_matmul(&qv, a->q + s0 * row, &kt, a->k, &sc, a->sc, 1.0f / sqrtf((float)a->D)))
        return -1;
    if (a->mask) {
        int64_t md[4] = {1, 1, S, a->Lk};
        dnnl_memory_desc_t mm;
        dnn_md(&mm, DT_F32, 4, md);
        if (run_binary(dnnl_binary_add, &sc, a->sc, &mm, (void *)(a->mask + s0 * a->Lk), &sc, a->sc))
            return -1;
    }
    if (run_softmax(a->dt, a->B * a->H * S, a->Lk, a->sc, a->sc)) return -1;
    return run_matmul(&sc, a->sc, &vv, a->v, &qv, a->y + s0 * row, 1.0f);
}

/* The primitive path: query slices whose score block stays under ATTN_SCORE_BYTES. */
static int attn_sliced(attn *a, scratch *s) {
    int64_t row = a->B * a->H * a->Lk * (int64_t)dtype_size(a->dt);
    int64_t S = ATTN_SCORE_BYTES / row;
    if (S < 1) S = 1;
    if (S > a->Lq) S = a->Lq;
    a->sc = scratch_alloc(s, (size_t)(S * row));
    int rc = a->sc ? 0 : -1;
    for (int64_t s0 = 0; rc == 0 && s0 < a->Lq; s0 += S)
        rc = attn_slice(a, s0, a->Lq - s0 < S ? a->Lq - s0 : S);
    return rc;
}

/* t's data in dtype dt: t itself, or a converted copy in scratch. */
static char *attn_input(scratch *s, const tensor *t, dtype dt) {
    if (t->dt == dt) return t->data;
    int64_t n = tensor_numel(t);
    dnnl_memory_desc_t ms, md;
    dnn_md(&ms, t->dt, 1, &n);
    dnn_md(&md, dt, 1, &n);
    char *p = scratch_alloc(s, (size_t)n * dtype_size(dt));
    return p && run_reorder(&ms, t->data, &md, p) == 0 ? p : NULL;
}

tensor *op_attention(const tensor *q, const tensor *k, const tensor *v, int heads,
                     const tensor *mask) {
    if (!q || !k || !v) return NULL;
    if (q->ndim != 3 || k->ndim != 3 || v->ndim != 3 || heads < 1 || q->ne[2] % heads ||
        k->ne[0] != q->ne[0] || v->ne[0] != q->ne[0] || k->ne[2] != q->ne[2] ||
        v->ne[2] != q->ne[2] || v->ne[1] != k->ne[1] || !ops_float_dt(q->dt) ||
        !ops_float_dt(k->dt) || !ops_float_dt(v->dt))
        return OPS_BAD("op_attention", "needs float q (B,Lq,H*D), k and v (B,Lk,H*D)");
    attn a = {.dt = backend_compute_dt(), .B = q->ne[0], .H = heads, .D = q->ne[2] / heads,
              .Lq = q->ne[1], .Lk = k->ne[1]};
    if (mask && (mask->dt != DT_F32 || tensor_numel(mask) != a.Lq * a.Lk))
        return OPS_BAD("op_attention", "mask must be f32 (Lq, Lk)");
    a.mask = mask ? mask->data : NULL;
    tensor *y = ops_out(a.dt, 3, q->ne);
    if (!y || tensor_numel(y) == 0) return y;
    a.y = y->data;
    if (a.Lk == 0) return OPS_BAD("op_attention", "empty key sequence");

    scratch s;
    scratch_begin(&s);
    a.q = attn_input(&s, q, a.dt);
    a.k = attn_input(&s, k, a.dt);
    a.v = attn_input(&s, v, a.dt);
    int rc = a.q && a.k && a.v ? 0 : -1;
    int fused = backend_settings()->opt >= OPT_O3 && !backend_on_gpu() && flash_supported(a.dt, a.D);
    /* The fused kernel has no primitive, so a plan has nothing to create or run there. */
    if (rc == 0 && fused && !ops_planning()) {
        flash_args fa = {.dt = a.dt, .B = a.B, .H = a.H, .D = a.D, .Lq = a.Lq, .Lk = a.Lk,
                         .q = a.q, .k = a.k, .v = a.v, .mask = a.mask, .y = a.y};
        uint64_t t0 = optime_start();
        rc = flash_attention(&fa, &s);
        optime_add(OT_ATTENTION, t0);
        /* What the two matmuls of the primitive path count (run_matmul), so that GFLOP/s
         * figures compare across opt levels. */
        if (rc == 0) flops_add(4.0 * (double)(a.B * a.H * a.Lq) * (double)(a.Lk * a.D));
    } else if (rc == 0 && !fused) {
        rc = attn_sliced(&a, &s);
    }
    scratch_end(&s);
    return rc ? NULL : y;
}
