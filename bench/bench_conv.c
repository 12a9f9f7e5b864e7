/* bench_conv.c -- `--conv-only`: 2-d convolutions at Stable Diffusion 1.5 shapes.
 *
 * UNet at 512x512 (latent 64x64, batch 2 for cond/uncond) and VAE decoder stages; each
 * in fp32 and bf16. Activations are created in the compute dtype and weights are
 * prepared on the warm-up call, as in a model's steady state.
 */
#include "bench.h"
#include "tensor/ops.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct { int64_t n, c, k, h, w, r, stride, pad; } conv_shape;

static const conv_shape conv_shapes[] = {
    {2, 320, 320, 64, 64, 3, 1, 1},     /* UNet level 0 resblock */
    {2, 4, 320, 64, 64, 3, 1, 1},       /* conv_in */
    {2, 320, 320, 64, 64, 3, 2, 1},     /* downsample */
    {2, 640, 640, 32, 32, 3, 1, 1},     /* level 1 */
    {2, 1280, 1280, 16, 16, 3, 1, 1},   /* level 2 */
    {2, 1280, 1280, 8, 8, 3, 1, 1},     /* level 3 / mid */
    {2, 960, 320, 64, 64, 1, 1, 0},     /* up-block skip 1x1 */
    {1, 512, 512, 64, 64, 3, 1, 1},     /* VAE decoder mid */
    {1, 256, 256, 256, 256, 3, 1, 1},   /* VAE decoder up 2 */
};

typedef struct { const conv_shape *s; tensor *x, *w, *b; } conv_run;

static void conv_call(void *p) {
    conv_run *r = p;
    if (!op_conv2d(r->x, r->w, r->b, (int)r->s->stride, (int)r->s->pad, 1, ACT_NONE, NULL)) exit(1);
}

int bench_section_conv(const bench_opts *o) {
    const precision precs[] = {PREC_FP32, PREC_BF16};
    for (size_t p = 0; p < 2; p++) {
        const char *dt = bench_use_precision(o, precs[p]);
        for (size_t i = 0; i < sizeof conv_shapes / sizeof conv_shapes[0]; i++) {
            const conv_shape *s = &conv_shapes[i];
            int64_t xn[4] = {s->n, s->c, s->h, s->w}, wn[4] = {s->k, s->c, s->r, s->r}, bn[1] = {s->k};
            tensor *x32 = tensor_new(DT_F32, 4, xn);
            conv_run r = {s, op_cast(x32, precs[p] == PREC_FP32 ? DT_F32 : DT_BF16),
                          tensor_new(DT_F32, 4, wn), tensor_new(DT_F32, 1, bn)};
            int64_t oh = (s->h + 2 * s->pad - s->r) / s->stride + 1;
            int64_t ow = (s->w + 2 * s->pad - s->r) / s->stride + 1;
            bench_case c = {.section = "conv", .op = "conv2d", .dtype = dt, .nparams = 8,
                            .params = {s->n, s->c, s->k, s->h, s->w, s->r, s->stride, s->pad},
                            .flops = 2.0 * s->n * s->k * oh * ow * s->c * s->r * s->r};
            snprintf(c.shape, sizeof c.shape, "%lldx%lld N=%lld C=%lld K=%lld %lldx%lld%s",
                     (long long)s->r, (long long)s->r, (long long)s->n, (long long)s->c,
                     (long long)s->k, (long long)s->h, (long long)s->w, s->stride > 1 ? " s2" : "");
            c.ms = bench_time_ms(o, conv_call, &r);
            bench_add(&c);
            tensor_free(x32);
            tensor_free(r.x);
            tensor_free(r.w);
            tensor_free(r.b);
        }
    }
    return 0;
}
