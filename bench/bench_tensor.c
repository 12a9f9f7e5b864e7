/* bench_tensor.c -- `--tensor-only`: the non-convolution ops at SD 1.5 shapes.
 *
 * Matrix products (the 8192x320x320 projection and a 2048^3 square), linear layers,
 * attention at the UNet's three self-attention sizes and cross-attention to 77 tokens
 * (sliced primitives up to --opt-level 2, the fused kernel at 3), and the memory-bound ops
 * (group norm on NCHW and on channels-last data, layer norm, softmax, GEGLU), each in
 * fp32 and bf16. Two fusions are timed against the passes they replace: the feed-forward
 * projection + GEGLU (geglu_ff: one linear, then op_geglu) against the gated halves
 * (linear_gated: value linear, gate linear with gelu and the product as post-ops), and
 * the ResBlock's add + group norm (group_norm_nhwc_add) against the norm reading the
 * add on the fly (group_norm_nhwc_shift).
 */
#include "bench.h"
#include "tensor/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { const char *op; int n; int64_t p[6]; } tcase;

static const tcase tcases[] = {
    {"matmul", 3, {8192, 320, 320}},          /* M, K, N */
    {"matmul", 3, {2048, 2048, 2048}},
    {"linear", 3, {8192, 320, 2560}},         /* M, in, out: GEGLU projection */
    {"linear", 3, {8192, 1280, 320}},         /* feed-forward out */
    {"linear", 3, {154, 768, 320}},           /* cross-attention k/v from CLIP */
    {"attention", 5, {2, 4096, 4096, 8, 40}}, /* B, Lq, Lk, heads, D; 64x64 latent */
    {"attention", 5, {2, 4096, 77, 8, 40}},
    {"attention", 5, {2, 1024, 1024, 8, 80}}, /* 32x32 */
    {"attention", 5, {2, 256, 256, 8, 160}},  /* 16x16 */
    {"group_norm", 5, {2, 320, 64, 64, 32}},  /* N, C, H, W, groups (+silu) */
    {"group_norm_nhwc", 5, {2, 320, 64, 64, 32}},  /* the same, data (N, H, W, C) */
    {"layer_norm", 2, {8192, 320}},           /* rows, C */
    {"softmax", 2, {8192, 4096}},             /* rows, C */
    {"geglu", 2, {8192, 2560}},               /* rows, 2d */
    {"geglu_ff", 3, {8192, 320, 1280}},       /* M, C, d: linear to 2d, then op_geglu */
    {"linear_gated", 3, {8192, 320, 1280}},   /* the same as two d-wide halves, fused */
    {"group_norm_nhwc_add", 5, {2, 320, 64, 64, 32}},    /* op_add of (N, 1, 1, C), norm */
    {"group_norm_nhwc_shift", 5, {2, 320, 64, 64, 32}},  /* the add inside the norm */
};

typedef struct { const tcase *c; tensor *a, *b, *c2, *bias; } trun;

static void tensor_call(void *p) {
    trun *r = p;
    const char *op = r->c->op;
    tensor *y = NULL;
    if (strcmp(op, "geglu_ff") == 0) {
        y = op_geglu(op_linear(r->a, r->b, r->bias, ACT_NONE, NULL));
    } else if (strcmp(op, "linear_gated") == 0) {
        y = op_linear_gated(r->a, r->c2, r->bias, ACT_GELU,
                            op_linear(r->a, r->b, r->bias, ACT_NONE, NULL));
    } else if (strcmp(op, "group_norm_nhwc_add") == 0) {
        tensor s = *r->c2;
        tensor_reshape(&s, 4, (int64_t[]){s.ne[0], 1, 1, s.ne[1]});
        y = op_group_norm_nhwc(op_add(r->a, &s), (int)r->c->p[4], r->bias, r->bias, 1e-5f,
                               ACT_SILU);
    } else if (strcmp(op, "group_norm_nhwc_shift") == 0) {
        y = op_group_norm_nhwc_shift(r->a, r->c2, (int)r->c->p[4], r->bias, r->bias, 1e-5f,
                                     ACT_SILU);
    } else switch (op[0]) {
    case 'm': y = op_matmul(r->a, r->b, 0, 1.0f); break;
    case 'l': y = op[1] == 'i' ? op_linear(r->a, r->b, r->bias, ACT_NONE, NULL)
                               : op_layer_norm(r->a, r->bias, r->bias, 1e-5f); break;
    case 'a': y = op_attention(r->a, r->b, r->b, (int)r->c->p[3], NULL); break;
    case 'g':
        if (op[1] != 'r') y = op_geglu(r->a);
        else if (strcmp(op, "group_norm_nhwc") == 0)
            y = op_group_norm_nhwc(r->a, (int)r->c->p[4], r->bias, r->bias, 1e-5f, ACT_SILU);
        else y = op_group_norm(r->a, (int)r->c->p[4], r->bias, r->bias, 1e-5f, ACT_SILU);
        break;
    default: y = op_softmax(r->a); break;
    }
    if (!y) exit(1);
}

/* Inputs of a case: activations in the compute dtype, weights f32 (prepared on warm-up). */
static void tensor_setup(trun *r, dtype act) {
    const int64_t *p = r->c->p;
    tensor *a32 = NULL, *b32 = NULL;
    const char *op = r->c->op;
    if (strcmp(op, "geglu_ff") == 0 || strcmp(op, "linear_gated") == 0) {
        int gated = op[0] == 'l';   /* two (d, C) halves, or one (2d, C) weight */
        int64_t an[2] = {p[0], p[1]}, wn[2] = {(gated ? 1 : 2) * p[2], p[1]},
                bn[1] = {(gated ? 1 : 2) * p[2]};
        a32 = tensor_new(DT_F32, 2, an);
        r->b = tensor_new(DT_F32, 2, wn);
        r->c2 = gated ? tensor_new(DT_F32, 2, wn) : NULL;
        r->bias = tensor_new(DT_F32, 1, bn);
    } else if (op[0] == 'm') {
        int64_t an[3] = {1, p[0], p[1]}, bn[3] = {1, p[1], p[2]};
        a32 = tensor_new(DT_F32, 3, an);
        b32 = tensor_new(DT_F32, 3, bn);
        r->b = op_cast(b32, act);
    } else if (op[0] == 'l' && op[1] == 'i') {
        int64_t an[2] = {p[0], p[1]}, wn[2] = {p[2], p[1]}, bn[1] = {p[2]};
        a32 = tensor_new(DT_F32, 2, an);
        r->b = tensor_new(DT_F32, 2, wn);
        r->bias = tensor_new(DT_F32, 1, bn);
    } else if (op[0] == 'a') {
        int64_t qn[3] = {p[0], p[1], p[3] * p[4]}, kn[3] = {p[0], p[2], p[3] * p[4]};
        a32 = tensor_new(DT_F32, 3, qn);
        b32 = tensor_new(DT_F32, 3, kn);
        r->b = op_cast(b32, act);
    } else if (op[0] == 'g' && op[1] == 'r') {
        int64_t xn[4] = {p[0], p[1], p[2], p[3]}, cl[4] = {p[0], p[2], p[3], p[1]}, cn[1] = {p[1]};
        a32 = tensor_new(DT_F32, 4, strncmp(op, "group_norm_nhwc", 15) == 0 ? cl : xn);
        r->bias = tensor_new(DT_F32, 1, cn);
        if (strlen(op) > 15) {   /* the _add and _shift cases: a (N, C) embedding */
            tensor *e = tensor_new(DT_F32, 2, (int64_t[]){p[0], p[1]});
            r->c2 = op_cast(e, act);
            tensor_free(e);
        }
    } else {
        int64_t xn[2] = {p[0], p[1]}, cn[1] = {p[1]};
        a32 = tensor_new(DT_F32, 2, xn);
        r->bias = tensor_new(DT_F32, 1, cn);
    }
    r->a = op_cast(a32, act);
    tensor_free(a32);
    tensor_free(b32);
}

static double tensor_flops(const tcase *c) {
    const int64_t *p = c->p;
    if (strcmp(c->op, "geglu_ff") == 0 || strcmp(c->op, "linear_gated") == 0)
        return 4.0 * p[0] * p[1] * p[2];
    if (c->op[0] == 'm' || (c->op[0] == 'l' && c->op[1] == 'i')) return 2.0 * p[0] * p[1] * p[2];
    if (c->op[0] == 'a') return 4.0 * p[0] * p[3] * p[1] * p[2] * p[4];
    return 0.0;
}

int bench_section_tensor(const bench_opts *o) {
    const precision precs[] = {PREC_FP32, PREC_BF16};
    for (size_t pi = 0; pi < 2; pi++) {
        const char *dt = bench_use_precision(o, precs[pi]);
        dtype act = precs[pi] == PREC_FP32 ? DT_F32 : DT_BF16;
        for (size_t i = 0; i < sizeof tcases / sizeof tcases[0]; i++) {
            const tcase *tc = &tcases[i];
            trun r = {tc, NULL, NULL, NULL, NULL};
            tensor_setup(&r, act);
            bench_case c = {.section = "tensor", .op = tc->op, .dtype = dt, .nparams = tc->n,
                            .flops = tensor_flops(tc)};
            int len = 0;
            for (int j = 0; j < tc->n; j++) {
                c.params[j] = tc->p[j];
                len += snprintf(c.shape + len, sizeof c.shape - (size_t)len, "%s%lld",
                                j ? "x" : "", (long long)tc->p[j]);
            }
            c.ms = bench_time_ms(o, tensor_call, &r);
            bench_add(&c);
            tensor_free(r.a);
            tensor_free(r.b);
            tensor_free(r.c2);
            tensor_free(r.bias);
        }
    }
    return 0;
}
