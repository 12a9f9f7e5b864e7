/* ops.h -- the operations model forward passes are written in.
 *
 * Eager ops on the current engine (backend.h). Every op returns a new tensor carved
 * from the current arena (arena.h), so a model call allocates nothing on the heap once
 * its arena has grown to size; the caller copies out what must outlive the call.
 * Inputs are f32 or the compute dtype chosen by the precision setting; outputs are the
 * compute dtype of the op. Each op looks up a cached oneDNN primitive keyed by shapes,
 * dtypes and attributes.
 *
 * Fusions are arguments, not separate passes: `act` is applied to (op + bias), then
 * `residual` (same shape as the output) is added. At --opt-level O0 the implementation
 * runs them as separate primitives; results must agree to float rounding.
 *
 * With no arena in use on the thread (tests, tools), results are heap tensors the caller
 * frees with tensor_free; tensor_free is a no-op on arena tensors, so freeing is always
 * safe. Bad arguments (shapes that do not fit) are logged and give NULL, and every op
 * passes a NULL input through as NULL, so a chain of ops can be checked once at its end.
 *
 * Contract between tensor/ and its users: extend, do not change meanings.
 */
#ifndef CI_OPS_H
#define CI_OPS_H

#include "tensor/tensor.h"

typedef enum {
    ACT_NONE,
    ACT_SILU,        /* x * sigmoid(x) */
    ACT_GELU,        /* erf form, torch's default */
    ACT_GELU_TANH,
    ACT_QUICK_GELU,  /* x * sigmoid(1.702 x), CLIP ViT-L */
    ACT_RELU,
} act_kind;

/* x (N,C,H,W), w (K,C/groups,R,S), bias (K) or NULL -> (N,K,H',W'). */
tensor *op_conv2d(const tensor *x, const tensor *w, const tensor *bias,
                  int stride, int pad, int groups, act_kind act, const tensor *residual);
/* Channels last: x (N,H,W,C), w (K,C/groups,R,S) as op_conv2d, bias (K) or NULL,
 * residual (N,H',W',K) or NULL -> (N,H',W',K). Same numbers as op_conv2d on the
 * permuted tensors; no layout conversion of the activations at any opt level. */
tensor *op_conv2d_nhwc(const tensor *x, const tensor *w, const tensor *bias,
                       int stride, int pad, int groups, act_kind act, const tensor *residual);
/* conv3x3(nearest 2x upsample of x), padding 1, channels last, without the upsample: each
 * output pixel of phase (py, px) = (row % 2, column % 2) reads only 2x2 pixels of x, so
 * the four phases are 2x2 convolutions at x's size (4/9 of the work) whose kernels sum
 * taps of the 3x3 one (op_conv_up2_weights), interleaved into the (N, 2H, 2W, K) result.
 * The same sums as upsample-then-conv up to the order of float additions. */
tensor *op_conv2d_up2_nhwc(const tensor *x, tensor *const w4[4], const tensor *bias);
/* The four phase kernels (K, C, 2, 2) of w (K, C, 3, 3), phase py * 2 + px, in dt (model
 * weights: T_OWNED_APART). The sums are taken in f32 from w as stored, so pass the
 * checkpoint's tensor rather than a copy already narrowed to dt: each kernel value is
 * then rounded once, as each weight is on the upsample-then-conv path. 0, or -1 (logged). */
int op_conv_up2_weights(const tensor *w, dtype dt, tensor *w4[4]);

/* x (..., in), w (out, in) as torch.nn.Linear stores it, bias (out) or NULL -> (..., out). */
tensor *op_linear(const tensor *x, const tensor *w, const tensor *bias,
                  act_kind act, const tensor *residual);
/* act(x w^T + bias) * mul, mul shaped like the output (a gated linear unit: GEGLU is
 * op_linear_gated(x, w_gate, b_gate, ACT_GELU, op_linear(x, w_value, b_value, ...))).
 * From O1 the product is the matmul's last post-op; O0 runs it separately. */
tensor *op_linear_gated(const tensor *x, const tensor *w, const tensor *bias, act_kind act,
                        const tensor *mul);

/* a (B,M,K), b (B,K,N) (or (B,N,K) with trans_b) -> alpha * a@b, (B,M,N). B may be 1 on one side. */
tensor *op_matmul(const tensor *a, const tensor *b, int trans_b, float alpha);

/* x (N,C,...) with C divisible by groups; gamma/beta (C) or NULL; act applied after the affine. */
tensor *op_group_norm(const tensor *x, int groups, const tensor *gamma, const tensor *beta,
                      float eps, act_kind act);

/* Channels last: x (N, ..., C), C divisible by groups, group g = channels
 * [g*C/groups, (g+1)*C/groups) over all positions of one sample; gamma/beta (C) or NULL;
 * act after the affine. Output like x (dtype too). */
tensor *op_group_norm_nhwc(const tensor *x, int groups, const tensor *gamma, const tensor *beta,
                           float eps, act_kind act);
/* op_group_norm_nhwc of x + shift, shift (N, C) broadcast over the positions (a
 * ResBlock's timestep embedding). From O1 x + shift is never formed (it enters the
 * statistics and the affine per channel), so it is not rounded to x's dtype as op_add
 * then op_group_norm_nhwc would round it; O0 runs that add separately. shift NULL:
 * op_group_norm_nhwc. */
tensor *op_group_norm_nhwc_shift(const tensor *x, const tensor *shift, int groups,
                                 const tensor *gamma, const tensor *beta, float eps,
                                 act_kind act);

/* Normalize over the last axis; gamma/beta (last dim) or NULL. */
tensor *op_layer_norm(const tensor *x, const tensor *gamma, const tensor *beta, float eps);

/* Softmax over the last axis. */
tensor *op_softmax(const tensor *x);

/* Multi-head scaled-dot-product attention, heads packed in the last axis:
 * q (B,Lq,H*D), k and v (B,Lk,H*D) -> (B,Lq,H*D), scale 1/sqrt(D). mask: NULL, or an additive
 * (Lq,Lk) f32 mask (CLIP's causal mask). Works in query slices so that no full Lq x Lk
 * matrix is held at once for long sequences. */
tensor *op_attention(const tensor *q, const tensor *k, const tensor *v, int heads,
                     const tensor *mask);

tensor *op_act(const tensor *x, act_kind act);
/* x (..., 2d) -> x[..., :d] * gelu(x[..., d:]), as diffusers/ldm's GEGLU. */
tensor *op_geglu(const tensor *x);

/* Elementwise with numpy broadcasting (b broadcast to a's shape). */
tensor *op_add(const tensor *a, const tensor *b);
tensor *op_mul(const tensor *a, const tensor *b);
/* alpha * a + beta */
tensor *op_scale(const tensor *a, float alpha, float beta);

tensor *op_concat(const tensor *a, const tensor *b, int axis);
tensor *op_slice(const tensor *x, int axis, int64_t start, int64_t len);
tensor *op_permute(const tensor *x, const int *perm);
tensor *op_cast(const tensor *x, dtype dt);

/* Plan mode, per thread: ops check their arguments, create or look up their primitives,
 * prepare their weights and carve outputs and scratch from the arena as usual, but
 * execute nothing, so results' contents are undefined. A model forward run in plan mode
 * leaves every primitive and prepared weight a real forward with the same shapes needs:
 * the real one then creates none (--jit warm-up). Returns the previous mode, for
 * `int was = ops_plan_set(1); ...; ops_plan_set(was);`. */
int ops_plan_set(int on);
int ops_planning(void);
/* Primitives created since start (the primitive cache's misses): what a plan made, and
 * what a planned real call must not add. */
uint64_t ops_primitives_created(void);
/* The dtype conv and linear weights compute in (the precision setting as this engine
 * resolved it): models bind their weight matrices in it. */
dtype ops_weight_dt(void);

typedef enum { INTERP_NEAREST, INTERP_NEAREST_EXACT, INTERP_BILINEAR, INTERP_BICUBIC,
               INTERP_AREA } interp_kind;
/* x (N,C,H,W) -> (N,C,h,w) as torch.nn.functional.interpolate computes it
 * (align_corners=False; bicubic with a=-0.75). */
tensor *op_interpolate(const tensor *x, int64_t h, int64_t w, interp_kind mode);
tensor *op_upsample_nearest2x(const tensor *x);
/* Channels last: x (N,H,W,C) -> (N,h,w,C), torch's legacy `nearest` (source index
 * floor(o * in/out)), as op_interpolate(.., INTERP_NEAREST) on the permuted tensor. */
tensor *op_interpolate_nearest_nhwc(const tensor *x, int64_t h, int64_t w);

#endif
