/* taesd.c -- TAESD decoder forward pass (see taesd.h).
 *
 * The decoder, as nn.Sequential indices (the checkpoint's key prefixes):
 *   0 Clamp: tanh(x / 3) * 3          1 conv (64, C)       2 ReLU
 *   3-5 Block x3, 6 Upsample 2x, 7 conv (64, 64) no bias  -- three times (3..17)
 *   18 Block                          19 conv (3, 64)
 * Block(x) = ReLU(conv4(ReLU(conv2(ReLU(conv0(x))))) + x): 64 -> 64, so no skip conv.
 */
#include "models/taesd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/model.h"
#include "tensor/arena.h"
#include "tensor/ops.h"

#define TAESD_CH 64
#define TAESD_STAGES 3       /* Block x3, Upsample, conv: the upsampling stages */

typedef struct taesd_block {
    model_layer conv_0, conv_2, conv_4;   /* conv (64, 64, 3, 3) + bias */
} taesd_block;

struct taesd {
    model_params params;
    arena *act;                           /* activations of one decode */
    model_layer conv_in;                  /* 1: (64, C, 3, 3) + bias */
    taesd_block blocks[TAESD_STAGES][3];  /* 3-5, 8-10, 13-15 */
    model_layer up_conv[TAESD_STAGES];    /* 7, 12, 17: (64, 64, 3, 3), no bias */
    taesd_block last;                     /* 18 */
    model_layer conv_out;                 /* 19: (3, 64, 3, 3) + bias */
};

static void block_bind(model_loader *ld, taesd_block *b, int index) {
    char path[MODEL_PATH_MAX];
    model_layer *convs[3] = {&b->conv_0, &b->conv_2, &b->conv_4};
    for (int i = 0; i < 3; i++) {
        model_path(path, "%d.conv.%d", index, 2 * i);
        model_conv_bind(ld, convs[i], path, TAESD_CH, TAESD_CH, 3);
    }
}

taesd *taesd_load(const ckpt *ck, int latent_channels, char *err, size_t errlen) {
    taesd *t = calloc(1, sizeof(*t));
    if (!t || !(t->act = arena_new())) {
        snprintf(err, errlen, "taesd: out of memory");
        taesd_free(t);
        return NULL;
    }
    model_loader ld;
    model_loader_init(&ld, ck, "", &t->params, err, errlen);
    model_conv_bind(&ld, &t->conv_in, "1", latent_channels, TAESD_CH, 3);
    char path[MODEL_PATH_MAX];
    for (int s = 0; s < TAESD_STAGES; s++) {
        int first = 3 + 5 * s;   /* 3, 8, 13 */
        for (int b = 0; b < 3; b++) block_bind(&ld, &t->blocks[s][b], first + b);
        model_path(path, "%d", first + 4);
        model_layer_bind(&ld, &t->up_conv[s], path, SHAPE(TAESD_CH, TAESD_CH, 3, 3), 0);
    }
    block_bind(&ld, &t->last, 18);
    model_conv_bind(&ld, &t->conv_out, "19", TAESD_CH, 3, 3);
    if (ld.failed) {
        taesd_free(t);
        return NULL;
    }
    return t;
}

void taesd_free(taesd *t) {
    if (!t) return;
    model_params_free(&t->params);
    arena_free(t->act);
    free(t);
}

static tensor *block_forward(const taesd_block *b, const tensor *x) {
    tensor *h = op_conv2d(x, b->conv_0.weight, b->conv_0.bias, 1, 1, 1, ACT_RELU, NULL);
    h = op_conv2d(h, b->conv_2.weight, b->conv_2.bias, 1, 1, 1, ACT_RELU, NULL);
    /* The ReLU comes after the residual sum, so it cannot be the conv's post-op. */
    return op_act(op_conv2d(h, b->conv_4.weight, b->conv_4.bias, 1, 1, 1, ACT_NONE, x),
                  ACT_RELU);
}

int taesd_decode(taesd *t, const tensor *latent, tensor *out, char *err, size_t errlen) {
    int64_t c = t->conv_in.weight->ne[1];
    if (latent->dt != DT_F32 || latent->ndim != 4 || latent->ne[0] != 1 || latent->ne[1] != c ||
        out->dt != DT_F32 || out->ndim != 4 || out->ne[0] != 1 || out->ne[1] != 3 ||
        out->ne[2] != 8 * latent->ne[2] || out->ne[3] != 8 * latent->ne[3]) {
        snprintf(err, errlen, "taesd: latent must be f32 (1,%lld,h,w), out f32 (1,3,8h,8w)",
                 (long long)c);
        return -1;
    }
    arena *prev = arena_use(t->act);
    arena_reset(t->act);
    tensor *x = arena_tensor(t->act, DT_F32, 4, latent->ne);
    if (x) {
        const float *src = latent->data;
        float *dst = x->data;
        for (int64_t i = 0; i < tensor_numel(x); i++) dst[i] = tanhf(src[i] / 3.0f) * 3.0f;
    }
    tensor *h = op_conv2d(x, t->conv_in.weight, t->conv_in.bias, 1, 1, 1, ACT_RELU, NULL);
    for (int s = 0; s < TAESD_STAGES; s++) {
        for (int b = 0; b < 3; b++) h = block_forward(&t->blocks[s][b], h);
        h = op_conv2d(op_upsample_nearest2x(h), t->up_conv[s].weight, NULL, 1, 1, 1, ACT_NONE,
                      NULL);
    }
    h = block_forward(&t->last, h);
    h = op_conv2d(h, t->conv_out.weight, t->conv_out.bias, 1, 1, 1, ACT_NONE, NULL);
    if (h && h->dt != DT_F32) h = op_cast(h, DT_F32);
    if (h) memcpy(out->data, h->data, out->nbytes);
    else snprintf(err, errlen, "taesd: a tensor op failed (out of memory?)");
    arena_use(prev);
    return h ? 0 : -1;
}
