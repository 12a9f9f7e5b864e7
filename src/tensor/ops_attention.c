/* ops_attention.c -- multi-head scaled-dot-product attention in bounded memory.
 *
 * Heads are packed in the last axis (B, L, H*D). K and V are reordered once into
 * head-major (B, H, Lk, D). Queries go in slices of S rows so the score block
 * (B, H, S, Lk) stays under ATTN_SCORE_BYTES whatever the resolution; per slice:
 *   reorder q rows -> (B, H, S, D)        scores = q k^T * 1/sqrt(D)   (matmul + post-op)
 *   [scores += mask rows]                 softmax over Lk, in place
 *   o = scores v -> (B, H, S, D)          reorder o into y's (B, S, H*D) rows
 * Every step is a oneDNN primitive; slices of equal size reuse cached primitives.
 */
#include "tensor/ops_internal.h"
#include "backend/engine.h"

#include <math.h>

#define ATTN_SCORE_BYTES ((int64_t)16 << 20)

typedef struct attn {
    dtype in, dt;          /* dtype of q, k, v; compute dtype (scratch and y) */
    int64_t B, H, D, Lq, Lk;
    char *q, *y;           /* packed (B, L, H*D) */
    void *kh, *vh;         /* head-major (B, H, Lk, D) */
    void *qs, *os, *sc;    /* one slice: (B, H, S, D) and scores (B, H, S, Lk) */
    const float *mask;     /* (Lq, Lk) or NULL */
} attn;

/* Descriptor of rows [*, *, S, D] of a packed (B, L, H*D) tensor seen as (B, H, S, D). */
static void attn_packed_md(dnnl_memory_desc_t *md, dtype dt, const attn *a, int64_t L, int64_t S) {
    int64_t dims[4] = {a->B, a->H, S, a->D}, st[4] = {L * a->H * a->D, a->D, a->H * a->D, 1};
    dnn_md_strided(md, dt, 4, dims, st);
}

static int attn_slice(const attn *a, int64_t s0, int64_t S) {
    size_t es = dtype_size(a->dt), ies = dtype_size(a->in);
    int64_t HD = a->H * a->D;
    dnnl_memory_desc_t qpk, ypk, qs, kt, sc, vh, os;
    int64_t sdim[4] = {a->B, a->H, S, a->D}, scd[4] = {a->B, a->H, S, a->Lk};
    int64_t ktd[4] = {a->B, a->H, a->D, a->Lk}, kts[4] = {a->H * a->Lk * a->D, a->Lk * a->D, 1, a->D};
    int64_t vd[4] = {a->B, a->H, a->Lk, a->D};
    attn_packed_md(&qpk, a->in, a, a->Lq, S);
    attn_packed_md(&ypk, a->dt, a, a->Lq, S);
    dnn_md(&qs, a->dt, 4, sdim);
    dnn_md_strided(&kt, a->dt, 4, ktd, kts);
    dnn_md(&sc, a->dt, 4, scd);
    dnn_md(&vh, a->dt, 4, vd);
    dnn_md(&os, a->dt, 4, sdim);
    if (run_reorder(&qpk, a->q + s0 * HD * ies, &qs, a->qs)) return -1;
    if (run_matmul(&qs, a->qs, &kt, a->kh, &sc, a->sc, 1.0f / sqrtf((float)a->D))) return -1;
    if (a->mask) {
        int64_t md[4] = {1, 1, S, a->Lk};
        dnnl_memory_desc_t mm;
        dnn_md(&mm, DT_F32, 4, md);
        if (run_binary(dnnl_binary_add, &sc, a->sc, &mm, (void *)(a->mask + s0 * a->Lk), &sc, a->sc))
            return -1;
    }
    if (run_softmax(a->dt, a->B * a->H * S, a->Lk, a->sc, a->sc)) return -1;
    if (run_matmul(&sc, a->sc, &vh, a->vh, &os, a->os, 1.0f)) return -1;
    return run_reorder(&os, a->os, &ypk, a->y + s0 * HD * es);
}

tensor *op_attention(const tensor *q, const tensor *k, const tensor *v, int heads,
                     const tensor *mask) {
    if (!q || !k || !v) return NULL;
    if (q->ndim != 3 || k->ndim != 3 || v->ndim != 3 || heads < 1 || q->ne[2] % heads ||
        k->ne[0] != q->ne[0] || v->ne[0] != q->ne[0] || k->ne[2] != q->ne[2] ||
        v->ne[2] != q->ne[2] || v->ne[1] != k->ne[1] || k->dt != q->dt || v->dt != q->dt ||
        !ops_float_dt(q->dt))
        return OPS_BAD("op_attention", "needs q (B,Lq,H*D), k and v (B,Lk,H*D) of one float dtype");
    attn a = {.in = q->dt, .dt = backend_compute_dt(), .B = q->ne[0], .H = heads, .D = q->ne[2] / heads, .Lq = q->ne[1],
              .Lk = k->ne[1], .q = q->data};
    if (mask && (mask->dt != DT_F32 || tensor_numel(mask) != a.Lq * a.Lk))
        return OPS_BAD("op_attention", "mask must be f32 (Lq, Lk)");
    a.mask = mask ? mask->data : NULL;
    tensor *y = ops_out(a.dt, 3, q->ne);
    if (!y || tensor_numel(y) == 0) return y;
    a.y = y->data;
    if (a.Lk == 0) return OPS_BAD("op_attention", "empty key sequence");

    size_t es = dtype_size(a.dt);
    int64_t row = a.B * a.H * a.Lk * (int64_t)es;
    int64_t S = ATTN_SCORE_BYTES / row;
    if (S < 1) S = 1;
    if (S > a.Lq) S = a.Lq;
    scratch s;
    scratch_begin(&s);
    size_t kv = (size_t)(a.B * a.H * a.Lk * a.D) * es, qo = (size_t)(a.B * a.H * S * a.D) * es;
    a.kh = scratch_alloc(&s, kv);
    a.vh = scratch_alloc(&s, kv);
    a.qs = scratch_alloc(&s, qo);
    a.os = scratch_alloc(&s, qo);
    a.sc = scratch_alloc(&s, (size_t)(S * row));
    int rc = a.kh && a.vh && a.qs && a.os && a.sc ? 0 : -1;
    dnnl_memory_desc_t kpk, khm;
    int64_t hd[4] = {a.B, a.H, a.Lk, a.D};
    attn_packed_md(&kpk, a.in, &a, a.Lk, a.Lk);
    dnn_md(&khm, a.dt, 4, hd);
    if (rc == 0) rc = run_reorder(&kpk, k->data, &khm, a.kh);
    if (rc == 0) rc = run_reorder(&kpk, v->data, &khm, a.vh);
    for (int64_t s0 = 0; rc == 0 && s0 < a.Lq; s0 += S)
        rc = attn_slice(&a, s0, a.Lq - s0 < S ? a.Lq - s0 : S);
    scratch_end(&s);
    return rc ? NULL : y;
}
