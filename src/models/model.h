/* model.h -- small pieces every model forward pass shares.
 *
 * Weights: a model binds each tensor by its checkpoint key (prefix + module path +
 * ".weight"/".bias"), checks the shape it expects, and keeps its own copy, so the
 * checkpoint can be closed after load: conv and linear weights in the dtype the
 * precision computes in (bf16 for --precision bf16), vectors (biases, norm scales) in
 * f32 as the primitives read them. A weight is then held once: in that copy, or, from
 * O2, in the prepared copy its primitive made of it (prepare.h drops the plain one).
 * A model_layer is the (weight, bias) pair of one conv, linear or norm module; its
 * field names mirror the checkpoint. Binding errors are sticky: the first missing key
 * or wrong shape is recorded and every later bind is a no-op, so a loader reads as a
 * plain list of modules and checks once at the end.
 *
 * Recording: a loader with no checkpoint can instead list what a model binds. Each
 * bind appends prefix+key and the expected shape to a synth_keys list and binds
 * nothing, so walking a model's loader with a configuration yields its checkpoint
 * layout (models/sd15_keys.c) from the same code that reads real files. Binding code
 * must therefore choose optional modules from its configuration, not from model_has.
 *
 * Activations: ops carve every output from the current arena and nothing is freed
 * until the arena is reset. A model therefore runs each block inside a scope: the
 * block's ops use a scratch arena that is reset on entry, and only the block's result
 * is copied back to the outer arena. Peak memory is then the live skip tensors plus
 * the largest single block, not the sum of every intermediate of the call.
 */
#ifndef CI_MODEL_H
#define CI_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "io/ckpt.h"
#include "io/synth.h"
#include "tensor/arena.h"
#include "tensor/tensor.h"

/* SHAPE(a, b, c) -> 3, (const int64_t[]){a, b, c}: an expected shape as two arguments. */
#define SHAPE(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
                   (const int64_t[]){__VA_ARGS__}

typedef struct model_layer {
    tensor *weight;   /* conv (out, in, k, k), linear (out, in), norm (C) */
    tensor *bias;     /* (out) or (C); NULL when the module has none */
} model_layer;

/* Every tensor a model owns, freed together by model_params_free. */
typedef struct model_params {
    tensor **v;
    int n, cap;
} model_params;

typedef struct model_loader {
    const ckpt *ck;         /* NULL while recording */
    const char *prefix;     /* "model.diffusion_model.", "first_stage_model." */
    model_params *params;   /* where bound tensors are recorded */
    char *err;
    size_t errlen;
    int failed;
    synth_keys *record;     /* recording: where binds are listed, as dtype record_dt */
    dtype record_dt;
} model_loader;

void model_loader_init(model_loader *ld, const ckpt *ck, const char *prefix,
                       model_params *params, char *err, size_t errlen);
/* Switches a loader made with ck NULL to recording into `keys` (see above); every
 * model_tensor then returns NULL and the loader fails only when out of memory. */
void model_loader_record(model_loader *ld, synth_keys *keys, dtype dt);
/* Binds prefix+key with the given shape, as f32 (vectors) or the weight dtype. */
tensor *model_tensor(model_loader *ld, const char *key, int ndim, const int64_t *shape);
/* True when prefix+key exists (optional modules: skip_connection, label_emb). */
int model_has(const model_loader *ld, const char *key);
/* Shape of prefix+key into ne (up to T_MAX_DIMS); returns ndim, or -1 when absent. */
int model_shape(const model_loader *ld, const char *key, int64_t *ne);

/* path.weight with `wshape`, and path.bias (wshape[0]) when has_bias. */
void model_layer_bind(model_loader *ld, model_layer *l, const char *path,
                      int ndim, const int64_t *wshape, int has_bias);
void model_conv_bind(model_loader *ld, model_layer *l, const char *path,
                     int64_t in, int64_t out, int k);
void model_linear_bind(model_loader *ld, model_layer *l, const char *path,
                       int64_t in, int64_t out, int has_bias);
void model_norm_bind(model_loader *ld, model_layer *l, const char *path, int64_t channels);
/* A linear computed as n separate blocks of its output rows (GEGLU's value and gate
 * halves): binds path.weight (out, in) and path.bias as model_linear_bind does (the same
 * keys when recording), then parts[i] gets rows [i*out/n, (i+1)*out/n) of each as a
 * weight of its own and the whole copies are freed, so a weight is still held once and
 * each part is prepared for its own primitive. */
void model_linear_split_bind(model_loader *ld, model_layer *parts, int n, const char *path,
                             int64_t in, int64_t out, int has_bias);

/* An Upsample's conv (ch, ch, 3, 3) + bias as model_conv_bind, and, from O3, where the
 * UNet runs it as op_conv2d_up2_nhwc, its four phase kernels into up2 (held beside the
 * weight, which serves sizes that are not an exact 2x); up2 stays NULL below O3. */
void model_conv_up2_bind(model_loader *ld, model_layer *l, tensor *up2[4], const char *path,
                         int64_t ch);

void model_params_free(model_params *p);
/* Bytes the weights hold now: plain copies plus prepared ones (tensor_held_bytes). */
size_t model_params_bytes(const model_params *p);

/* printf into a module path buffer (paths are short; truncation is a bug). */
#define MODEL_PATH_MAX 160
void model_path(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Enter a block: reset `scratch`, make it current; returns the arena to go back to. */
arena *model_scope_begin(arena *scratch);
/* Leave a block: make `outer` current again and return a copy of `result` carved from it. */
tensor *model_scope_end(arena *outer, const tensor *result);

/* A chain of blocks with no skips (the VAE): each block's ops run in `scratch`, and its
 * result is kept in one of two hold arenas, alternating, so only the previous block's
 * output and the current block's intermediates are ever alive. */
typedef struct model_chain {
    arena *scratch;
    arena *hold[2];
    int k;
} model_chain;

int model_chain_init(model_chain *c);         /* 0, or -1 out of memory */
void model_chain_free(model_chain *c);
void model_chain_reset(model_chain *c);       /* start of a call: everything dead */
arena *model_chain_begin(model_chain *c);     /* returns the arena that was current */
tensor *model_chain_end(model_chain *c, const tensor *result);
size_t model_chain_peak(const model_chain *c);
/* h = MODEL_STEP(chain, expr): evaluate expr as one block of the chain. */
#define MODEL_STEP(c, expr) (model_chain_begin(c), model_chain_end((c), (expr)))

/* (B, C, H, W) <-> (B, H*W, C): token index y*W + x, channels last. */
tensor *model_to_tokens(const tensor *x);
tensor *model_from_tokens(tensor *t, const tensor *like);

/* Zero-padded copy of x (N,C,H,W) with one extra row at the bottom and one extra column at
 * the right, as F.pad(x, (0,1,0,1)) before the VAE encoder's stride-2 convs. */
tensor *model_pad_bottom_right(const tensor *x);

#endif
