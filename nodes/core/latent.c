/* latent.c -- latent nodes that need no model: make, resize, slice, repeat, mask.
 *
 * ComfyUI's LATENT is a dict {"samples", "noise_mask"?, "batch_index"?}; ours is
 * ci_latent. Nodes never modify their input: each builds a new latent (tensors are
 * copied where they change, so cached upstream values stay intact).
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

/* ---- LATENT helpers ---- */

void tensor_free_v(void *t) { tensor_free(t); }

ci_latent *latent_new(tensor *samples) {
    ci_latent *l = calloc(1, sizeof *l);
    if (!l || !samples) { free(l); tensor_free(samples); return NULL; }
    l->samples = samples;
    l->downscale_ratio = 8;
    return l;
}

static tensor *tensor_clone(const tensor *t) {
    if (!t) return NULL;
    tensor *c = tensor_new(t->dt, t->ndim, t->ne);
    if (c) memcpy(c->data, t->data, t->nbytes);
    return c;
}

ci_latent *latent_copy(const ci_latent *src) {
    ci_latent *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    *l = *src;
    l->samples = tensor_clone(src->samples);
    l->noise_mask = tensor_clone(src->noise_mask);
    l->batch_index = NULL;
    if (src->batch_index) {
        l->batch_index = malloc((size_t)src->n_batch_index * sizeof *l->batch_index);
        if (l->batch_index) memcpy(l->batch_index, src->batch_index, (size_t)src->n_batch_index * sizeof *l->batch_index);
    }
    if (!l->samples || (src->noise_mask && !l->noise_mask) || (src->batch_index && !l->batch_index)) {
        latent_free(l);
        return NULL;
    }
    return l;
}

void latent_free(void *p) {
    ci_latent *l = p;
    if (!l) return;
    tensor_free(l->samples);
    tensor_free(l->noise_mask);
    free(l->batch_index);
    free(l);
}

int set_latent(ci_call *c, int index, ci_latent *l) {
    if (!l) return ci_fail(c, "torch.OutOfMemoryError", "out of memory");
    return ci_set_object(c, index, CI_TYPE_LATENT, l, latent_free);
}

int set_tensor(ci_call *c, int index, const char *type, tensor *t) {
    if (!t) return ci_fail(c, "torch.OutOfMemoryError", "out of memory");
    return ci_set_object(c, index, type, t, tensor_free_v);
}

/* Rows [start, start+len) of dim 0. */
static tensor *batch_slice(const tensor *t, int64_t start, int64_t len) {
    int64_t ne[T_MAX_DIMS];
    memcpy(ne, t->ne, sizeof ne);
    ne[0] = len;
    tensor *o = tensor_new(t->dt, t->ndim, ne);
    size_t row = t->ne[0] ? t->nbytes / (size_t)t->ne[0] : 0;
    if (o) memcpy(o->data, (const char *)t->data + (size_t)start * row, (size_t)len * row);
    return o;
}

/* dim 0 repeated `times` times (torch's repeat((times, 1, 1, 1))). */
static tensor *batch_repeat(const tensor *t, int64_t times) {
    int64_t ne[T_MAX_DIMS];
    memcpy(ne, t->ne, sizeof ne);
    ne[0] *= times;
    tensor *o = tensor_new(t->dt, t->ndim, ne);
    for (int64_t i = 0; o && i < times; i++) memcpy((char *)o->data + (size_t)i * t->nbytes, t->data, t->nbytes);
    return o;
}

/* ---- EmptyLatentImage ---- */

static int empty_latent_run(ci_call *c) {
    int64_t w = ci_get_int(c, "width"), h = ci_get_int(c, "height"), b = ci_get_int(c, "batch_size");
    int64_t ne[4] = { b, 4, h / 8, w / 8 };
    return set_latent(c, 0, latent_new(tensor_new(DT_F32, 4, ne)));
}

static const ci_output_def latent_out[] = { { "LATENT", NULL, 0, NULL } };
static const ci_output_def empty_latent_out[] = { { "LATENT", NULL, 0, "The empty latent image batch." } };

const ci_node_def core_empty_latent_image = {
    .abi_version = CI_ABI_VERSION, .name = "EmptyLatentImage", .display_name = "Empty Latent Image",
    .description = "Create a new batch of empty latent images to be denoised via sampling.",
    .category = "model/latent",
    .inputs = "{\"required\": {\"width\": [\"INT\", {\"default\": 512, \"min\": 16, \"max\": 16384, \"step\": 8, \"tooltip\": \"The width of the latent images in pixels.\"}], \"height\": [\"INT\", {\"default\": 512, \"min\": 16, \"max\": 16384, \"step\": 8, \"tooltip\": \"The height of the latent images in pixels.\"}], \"batch_size\": [\"INT\", {\"default\": 1, \"min\": 1, \"max\": 4096, \"tooltip\": \"The number of latent images in the batch.\"}]}}",
    .outputs = empty_latent_out, .n_outputs = 1,
    .search_aliases = (const char *const[]){ "empty", "empty latent", "new latent", "create latent", "blank latent", "blank", NULL },
    .run = empty_latent_run,
};

/* ---- LatentUpscale, LatentUpscaleBy ---- */

static int upscale_latent_to(ci_call *c, int64_t w, int64_t h, const char *method, const char *crop) {
    const ci_latent *in = ci_get_object(c, "samples", CI_TYPE_LATENT);
    if (!in) return ci_fail(c, "TypeError", "samples is not a LATENT");
    char err[256];
    tensor *s = core_upscale(in->samples, w, h, method, crop, err, sizeof err);
    if (!s) return ci_fail(c, "RuntimeError", "%s", err);
    ci_latent *out = latent_copy(in);
    if (out) { tensor_free(out->samples); out->samples = s; }
    else tensor_free(s);
    return set_latent(c, 0, out);
}

static int latent_upscale_run(ci_call *c) {
    const ci_latent *in = ci_get_object(c, "samples", CI_TYPE_LATENT);
    if (!in) return ci_fail(c, "TypeError", "samples is not a LATENT");
    int64_t w = ci_get_int(c, "width"), h = ci_get_int(c, "height");
    if (w == 0 && h == 0) return ci_pass(c, 0, "samples");
    int64_t lw = in->samples->ne[3], lh = in->samples->ne[2];
    if (w == 0) {
        h = h > 64 ? h : 64;
        w = py_round((double)lw * (double)h / (double)lh);
        w = w > 64 ? w : 64;
    } else if (h == 0) {
        w = w > 64 ? w : 64;
        h = py_round((double)lh * (double)w / (double)lw);
        h = h > 64 ? h : 64;
    } else {
        w = w > 64 ? w : 64;
        h = h > 64 ? h : 64;
    }
    return upscale_latent_to(c, w / 8, h / 8, ci_get_string(c, "upscale_method"), ci_get_string(c, "crop"));
}

static int latent_upscale_by_run(ci_call *c) {
    const ci_latent *in = ci_get_object(c, "samples", CI_TYPE_LATENT);
    if (!in) return ci_fail(c, "TypeError", "samples is not a LATENT");
    double k = ci_get_float(c, "scale_by");
    int64_t w = py_round((double)in->samples->ne[3] * k), h = py_round((double)in->samples->ne[2] * k);
    return upscale_latent_to(c, w, h, ci_get_string(c, "upscale_method"), "disabled");
}

const ci_node_def core_latent_upscale = {
    .abi_version = CI_ABI_VERSION, .name = "LatentUpscale", .display_name = "Upscale Latent",
    .category = "model/latent",
    .inputs = "{\"required\": {\"samples\": [\"LATENT\"], \"upscale_method\": [[\"nearest-exact\", \"bilinear\", \"area\", \"bicubic\", \"bislerp\"]], \"width\": [\"INT\", {\"default\": 512, \"min\": 0, \"max\": 16384, \"step\": 8}], \"height\": [\"INT\", {\"default\": 512, \"min\": 0, \"max\": 16384, \"step\": 8}], \"crop\": [[\"disabled\", \"center\"]]}}",
    .outputs = latent_out, .n_outputs = 1,
    .search_aliases = (const char *const[]){ "enlarge latent", "resize latent", NULL },
    .run = latent_upscale_run,
};

const ci_node_def core_latent_upscale_by = {
    .abi_version = CI_ABI_VERSION, .name = "LatentUpscaleBy", .display_name = "Upscale Latent By",
    .category = "model/latent",
    .inputs = "{\"required\": {\"samples\": [\"LATENT\"], \"upscale_method\": [[\"nearest-exact\", \"bilinear\", \"area\", \"bicubic\", \"bislerp\"]], \"scale_by\": [\"FLOAT\", {\"default\": 1.5, \"min\": 0.01, \"max\": 8.0, \"step\": 0.01}]}}",
    .outputs = latent_out, .n_outputs = 1,
    .search_aliases = (const char *const[]){ "enlarge latent", "resize latent", "scale latent", NULL },
    .run = latent_upscale_by_run,
};

/* ---- LatentFromBatch ---- */

/* A noise mask brought to the batch size (ComfyUI repeats short mask batches). */
static tensor *mask_for_batch(const tensor *m, int64_t batch) {
    if (m->ne[0] >= batch) return batch_slice(m, 0, m->ne[0]);
    tensor *rep = batch_repeat(m, (batch + m->ne[0] - 1) / m->ne[0]);
    tensor *out = rep ? batch_slice(rep, 0, batch) : NULL;
    tensor_free(rep);
    return out;
}

static int latent_from_batch_run(ci_call *c) {
    const ci_latent *in = ci_get_object(c, "samples", CI_TYPE_LATENT);
    if (!in) return ci_fail(c, "TypeError", "samples is not a LATENT");
    int64_t b = in->samples->ne[0], idx = ci_get_int(c, "batch_index"), len = ci_get_int(c, "length");
    if (idx < 0) idx += b;
    if (idx < 0) idx = 0;
    if (idx > b - 1) idx = b - 1;
    if (len > b - idx) len = b - idx;
    ci_latent *out = calloc(1, sizeof *out);
    if (!out) return set_latent(c, 0, NULL);
    out->downscale_ratio = in->downscale_ratio;
    out->samples = batch_slice(in->samples, idx, len);
    int ok = out->samples != NULL;
    if (ok && in->noise_mask) {
        if (in->noise_mask->ne[0] == 1) out->noise_mask = tensor_clone(in->noise_mask);
        else {
            tensor *full = mask_for_batch(in->noise_mask, b);
            out->noise_mask = full ? batch_slice(full, idx, len) : NULL;
            tensor_free(full);
        }
        ok = out->noise_mask != NULL;
    }
    out->batch_index = ok ? malloc((size_t)(len ? len : 1) * sizeof *out->batch_index) : NULL;
    out->n_batch_index = (int)len;
    for (int64_t i = 0; out->batch_index && i < len; i++)
        out->batch_index[i] = in->batch_index && idx + i < in->n_batch_index ? in->batch_index[idx + i] : idx + i;
    if (!ok || !out->batch_index) { latent_free(out); out = NULL; }
    return set_latent(c, 0, out);
}

const ci_node_def core_latent_from_batch = {
    .abi_version = CI_ABI_VERSION, .name = "LatentFromBatch", .display_name = "Get Latent From Batch",
    .category = "model/latent/batch",
    .inputs = "{\"required\": {\"samples\": [\"LATENT\"], \"batch_index\": [\"INT\", {\"default\": 0, \"min\": -16384, \"max\": 16384}], \"length\": [\"INT\", {\"default\": 1, \"min\": 1, \"max\": 64}]}}",
    .outputs = latent_out, .n_outputs = 1,
    .search_aliases = (const char *const[]){ "select from batch", "pick latent", "batch subset", NULL },
    .run = latent_from_batch_run,
};

/* ---- RepeatLatentBatch ---- */

static int repeat_latent_run(ci_call *c) {
    const ci_latent *in = ci_get_object(c, "samples", CI_TYPE_LATENT);
    if (!in) return ci_fail(c, "TypeError", "samples is not a LATENT");
    int64_t amount = ci_get_int(c, "amount");
    ci_latent *out = calloc(1, sizeof *out);
    if (!out) return set_latent(c, 0, NULL);
    out->downscale_ratio = in->downscale_ratio;
    out->samples = batch_repeat(in->samples, amount);
    int ok = out->samples != NULL;
    if (ok && in->noise_mask)   /* ComfyUI repeats only a per-sample mask batch */
        ok = (out->noise_mask = in->noise_mask->ne[0] > 1 ? batch_repeat(in->noise_mask, amount)
                                                           : tensor_clone(in->noise_mask)) != NULL;
    if (ok && in->batch_index && in->n_batch_index > 0) {
        int n = in->n_batch_index;
        int64_t lo = in->batch_index[0], hi = lo;
        for (int i = 0; i < n; i++) {
            if (in->batch_index[i] < lo) lo = in->batch_index[i];
            if (in->batch_index[i] > hi) hi = in->batch_index[i];
        }
        out->batch_index = malloc((size_t)n * (size_t)amount * sizeof *out->batch_index);
        ok = out->batch_index != NULL;
        for (int64_t r = 0; ok && r < amount; r++)
            for (int i = 0; i < n; i++) out->batch_index[r * n + i] = in->batch_index[i] + r * (hi - lo + 1);
        out->n_batch_index = (int)(n * amount);
    }
    if (!ok) { latent_free(out); out = NULL; }
    return set_latent(c, 0, out);
}

const ci_node_def core_repeat_latent_batch = {
    .abi_version = CI_ABI_VERSION, .name = "RepeatLatentBatch", .display_name = "Repeat Latent Batch",
    .category = "model/latent/batch",
    .inputs = "{\"required\": {\"samples\": [\"LATENT\"], \"amount\": [\"INT\", {\"default\": 1, \"min\": 1, \"max\": 64}]}}",
    .outputs = latent_out, .n_outputs = 1,
    .search_aliases = (const char *const[]){ "duplicate latent", "clone latent", NULL },
    .run = repeat_latent_run,
};

/* ---- SetLatentNoiseMask ---- */

static int set_noise_mask_run(ci_call *c) {
    const ci_latent *in = ci_get_object(c, "samples", CI_TYPE_LATENT);
    const tensor *mask = ci_get_object(c, "mask", CI_TYPE_MASK);
    if (!in || !mask) return ci_fail(c, "TypeError", "samples must be a LATENT and mask a MASK");
    ci_latent *out = latent_copy(in);
    if (!out) return set_latent(c, 0, NULL);
    tensor_free(out->noise_mask);
    int64_t h = mask->ndim >= 2 ? mask->ne[mask->ndim - 2] : 1, w = mask->ne[mask->ndim - 1];
    int64_t hw = h * w > 0 ? h * w : 1;
    int64_t ne[4] = { tensor_numel(mask) / hw, 1, h, w };   /* reshape (-1, 1, H, W) */
    out->noise_mask = tensor_clone(mask);
    if (!out->noise_mask || tensor_reshape(out->noise_mask, 4, ne) != 0) { latent_free(out); out = NULL; }
    return set_latent(c, 0, out);
}

const ci_node_def core_set_latent_noise_mask = {
    .abi_version = CI_ABI_VERSION, .name = "SetLatentNoiseMask", .display_name = "Set Latent Noise Mask",
    .category = "model/latent",
    .inputs = "{\"required\": {\"samples\": [\"LATENT\"], \"mask\": [\"MASK\"]}}",
    .outputs = latent_out, .n_outputs = 1,
    .run = set_noise_mask_run,
};
