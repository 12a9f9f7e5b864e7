/* int8.h -- int8 conv and linear: s8 weights with per-channel scales, s8 activations.
 *
 * oneDNN 2.6 has no weight-only int8 (f32 activations times s8 weights), so an int8
 * op quantizes its input per call (symmetric, one scale from max |x|) and its weights
 * once (symmetric, one scale per output channel, kept as the prepared copy). The
 * primitive accumulates in s32 and its post-ops, in f32, multiply by the per-channel
 * x_scale * w_scale[oc], add the bias, apply the activation and add the residual. The
 * scales are a post-op operand rather than oneDNN output scales because 2.6 takes
 * runtime output scales only in matmul and reorder, and x_scale changes every call.
 */
#ifndef CI_INT8_H
#define CI_INT8_H

#include "tensor/dnn.h"

/* Attribute of an int8 conv/matmul: post-ops [* scales (chan_md)] [+ bias (chan_md, when
 * has_bias)] [act] [sum]; chan_md is f32 with the output's channel dim, 1 elsewhere.
 * Caller destroys. */
dnnl_primitive_attr_t int8_attr(const dnnl_memory_desc_t *chan_md, int has_bias, act_kind act,
                                int sum);

typedef struct int8_call {
    const pentry *e;
    const tensor *x;                   /* f32/bf16/f16 input */
    const dnnl_memory_desc_t *xmd;     /* x's descriptor as the primitive's src shape */
    const tensor *w;
    const dnnl_memory_desc_t *wmd;     /* w's plain descriptor as the primitive's weights */
    int oc_dim;                        /* output-channel dim of wmd */
    const tensor *bias;                /* or NULL */
    const dnnl_memory_desc_t *chan_md; /* f32 per-channel post-op operand shape */
    tensor *y;                         /* f32 output */
    const dnnl_memory_desc_t *ymd;
    int sum;                           /* y holds the residual already */
} int8_call;

int int8_run(const int8_call *c);

#endif
