/* conditioning.c -- CLIPTextEncode and the conditioning list transforms.
 *
 * CONDITIONING is a list of entries (cond tensor plus its settings); the transforms
 * build new lists with copied tensors, never touching their inputs, as ComfyUI's
 * nodes copy the dicts: Combine concatenates two lists, SetArea stamps an area and a
 * strength on every entry, Average blends each entry of `to` with the first entry of
 * `from` (padded with zeros or cut to the same token count), ZeroOut zeroes the
 * tensors and keeps the settings.
 */
#include "sd.h"

#include <stdlib.h>
#include <string.h>

static tensor *tensor_dup(const tensor *t) {
    if (!t) return NULL;
    tensor *c = tensor_new(t->dt, t->ndim, t->ne);
    if (c) memcpy(c->data, t->data, t->nbytes);
    return c;
}

sd_cond *sd_cond_new(int n) {
    sd_cond *c = calloc(1, sizeof *c);
    if (c) c->e = calloc((size_t)(n > 0 ? n : 1), sizeof *c->e);
    if (!c || !c->e) { free(c); return NULL; }
    c->n = n;
    for (int i = 0; i < n; i++) c->e[i].strength = 1.0f;
    return c;
}

void sd_cond_free(void *p) {
    sd_cond *c = p;
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        tensor_free(c->e[i].cond);
        tensor_free(c->e[i].pooled);
    }
    free(c->e);
    free(c);
}

int sd_cond_entry_copy(sd_cond_entry *d, const sd_cond_entry *e) {
    *d = *e;
    d->cond = tensor_dup(e->cond);
    d->pooled = tensor_dup(e->pooled);
    return d->cond && (d->pooled || !e->pooled) ? 0 : -1;
}

int sd_set_cond(ci_call *c, int index, sd_cond *cond) {
    if (!cond) return ci_fail(c, "torch.OutOfMemoryError", "out of memory");
    return ci_set_object(c, index, SD_TYPE_COND, cond, sd_cond_free);
}

/* A copy of `in` whose every entry went through edit (NULL on failure). */
static sd_cond *cond_map(const sd_cond *in, void (*edit)(sd_cond_entry *e, void *arg), void *arg) {
    sd_cond *out = sd_cond_new(in->n);
    for (int i = 0; out && i < in->n; i++) {
        if (sd_cond_entry_copy(&out->e[i], &in->e[i])) {
            out->n = i + 1;
            sd_cond_free(out);
            return NULL;
        }
        edit(&out->e[i], arg);
    }
    return out;
}

static const sd_cond *get_cond(ci_call *c, const char *input) {
    const sd_cond *v = ci_get_object(c, input, SD_TYPE_COND);
    if (!v) ci_fail(c, "TypeError", "%s is not a CONDITIONING", input);
    return v;
}

/* ---- CLIPTextEncode ---- */

static int clip_text_encode_run(ci_call *c) {
    const sd_handle *h = ci_get_object(c, "clip", SD_TYPE_CLIP);
    const char *text = ci_get_string(c, "text");
    if (!h) return ci_fail(c, "RuntimeError", "ERROR: clip input is invalid: None\n\nIf the clip is from a "
                           "checkpoint loader node your checkpoint does not contain a valid clip or text encoder model.");
    sd_cond *out = sd_cond_new(1);
    char *err = NULL;
    if (out && clip_encode(sd_of(h)->clip, text ? text : "", h->clip_skip, &out->e[0].cond,
                           &out->e[0].pooled, &err)) {
        sd_cond_free(out);
        int rc = ci_fail(c, "RuntimeError", "%s", err ? err : "text encoding failed");
        free(err);
        return rc;
    }
    return sd_set_cond(c, 0, out);
}

static const ci_output_def cond_out_tip[] = {
    {"CONDITIONING", NULL, 0, "A conditioning containing the embedded text used to guide the diffusion model."}};
static const ci_output_def cond_out[] = {{"CONDITIONING", NULL, 0, NULL}};

const ci_node_def core_clip_text_encode = {
    .abi_version = CI_ABI_VERSION, .name = "CLIPTextEncode", .display_name = "CLIP Text Encode (Prompt)",
    .description = "Encodes a text prompt using a CLIP model into an embedding that can be used to guide the diffusion model towards generating specific images.",
    .category = "model/conditioning",
    .inputs = "{\"required\": {\"text\": [\"STRING\", {\"multiline\": true, \"dynamicPrompts\": true, \"tooltip\": \"The text to be encoded.\"}], \"clip\": [\"CLIP\", {\"tooltip\": \"The CLIP model used for encoding the text.\"}]}}",
    .outputs = cond_out_tip, .n_outputs = 1,
    .search_aliases = (const char *const[]){"text", "prompt", "text prompt", "positive prompt", "negative prompt", "encode text", "text encoder", "encode prompt", NULL},
    .run = clip_text_encode_run,
};

/* ---- ConditioningCombine ---- */

static int conditioning_combine_run(ci_call *c) {
    const sd_cond *a = get_cond(c, "conditioning_1"), *b = a ? get_cond(c, "conditioning_2") : NULL;
    if (!b) return -1;
    sd_cond *out = sd_cond_new(a->n + b->n);
    for (int i = 0; out && i < a->n + b->n; i++) {
        if (sd_cond_entry_copy(&out->e[i], i < a->n ? &a->e[i] : &b->e[i - a->n])) {
            out->n = i + 1;
            sd_cond_free(out);
            out = NULL;
        }
    }
    return sd_set_cond(c, 0, out);
}

const ci_node_def core_conditioning_combine = {
    .abi_version = CI_ABI_VERSION, .name = "ConditioningCombine", .display_name = "Conditioning (Combine)",
    .category = "model/conditioning/transform",
    .inputs = "{\"required\": {\"conditioning_1\": [\"CONDITIONING\"], \"conditioning_2\": [\"CONDITIONING\"]}}",
    .outputs = cond_out, .n_outputs = 1,
    .search_aliases = (const char *const[]){"combine", "merge conditioning", "combine prompts", "merge prompts", "mix prompts", "add prompt", NULL},
    .essentials_category = "Image Generation",
    .run = conditioning_combine_run,
};

/* ---- ConditioningSetArea ---- */

typedef struct area_arg { int64_t area[4]; float strength; } area_arg;

static void set_area(sd_cond_entry *e, void *arg) {
    const area_arg *a = arg;
    e->has_area = 1;
    memcpy(e->area, a->area, sizeof e->area);
    e->strength = a->strength;
}

static int conditioning_set_area_run(ci_call *c) {
    const sd_cond *in = get_cond(c, "conditioning");
    if (!in) return -1;
    area_arg a = {{ci_get_int(c, "height") / 8, ci_get_int(c, "width") / 8, ci_get_int(c, "y") / 8,
                   ci_get_int(c, "x") / 8}, (float)ci_get_float(c, "strength")};
    return sd_set_cond(c, 0, cond_map(in, set_area, &a));
}

const ci_node_def core_conditioning_set_area = {
    .abi_version = CI_ABI_VERSION, .name = "ConditioningSetArea", .display_name = "Conditioning (Set Area)",
    .category = "model/conditioning/transform",
    .inputs = "{\"required\": {\"conditioning\": [\"CONDITIONING\"], \"width\": [\"INT\", {\"default\": 64, \"min\": 64, \"max\": 16384, \"step\": 8}], \"height\": [\"INT\", {\"default\": 64, \"min\": 64, \"max\": 16384, \"step\": 8}], \"x\": [\"INT\", {\"default\": 0, \"min\": 0, \"max\": 16384, \"step\": 8}], \"y\": [\"INT\", {\"default\": 0, \"min\": 0, \"max\": 16384, \"step\": 8}], \"strength\": [\"FLOAT\", {\"default\": 1.0, \"min\": 0.0, \"max\": 10.0, \"step\": 0.01}]}}",
    .outputs = cond_out, .n_outputs = 1,
    .search_aliases = (const char *const[]){"regional prompt", "area prompt", "spatial conditioning", "localized prompt", NULL},
    .run = conditioning_set_area_run,
};

/* ---- ConditioningAverage ---- */

typedef struct avg_arg { const sd_cond_entry *from; float w; int failed; } avg_arg;

/* to * w + from * (1 - w), from's tokens cut or zero-padded to to's count. */
static void average(sd_cond_entry *e, void *arg) {
    avg_arg *a = arg;
    const tensor *f = a->from->cond;
    int64_t L = e->cond->ne[1], D = e->cond->ne[2], Lf = f->ne[1];
    float *t = e->cond->data;
    const float *s = f->data;
    if (f->ne[2] != D) { a->failed = 1; return; }
    for (int64_t i = 0; i < L * D; i++) t[i] = t[i] * a->w + (i / D < Lf ? s[i] : 0.0f) * (1.0f - a->w);
    const tensor *pf = a->from->pooled;
    if (pf && e->pooled && pf->nbytes == e->pooled->nbytes) {
        float *p = e->pooled->data;
        const float *q = pf->data;
        for (int64_t i = 0; i < (int64_t)(pf->nbytes / sizeof(float)); i++) p[i] = p[i] * a->w + q[i] * (1.0f - a->w);
    } else if (pf && !e->pooled) {
        e->pooled = tensor_new(pf->dt, pf->ndim, pf->ne);
        if (e->pooled) memcpy(e->pooled->data, pf->data, pf->nbytes);
        else a->failed = 1;
    }
}

static int conditioning_average_run(ci_call *c) {
    const sd_cond *to = get_cond(c, "conditioning_to"), *from = to ? get_cond(c, "conditioning_from") : NULL;
    if (!from) return -1;
    if (from->n < 1) return ci_fail(c, "ValueError", "conditioning_from is empty");
    avg_arg a = {&from->e[0], (float)ci_get_float(c, "conditioning_to_strength"), 0};
    sd_cond *out = cond_map(to, average, &a);
    if (out && a.failed) {
        sd_cond_free(out);
        return ci_fail(c, "RuntimeError", "ConditioningAverage: the two conditionings have different widths");
    }
    return sd_set_cond(c, 0, out);
}

const ci_node_def core_conditioning_average = {
    .abi_version = CI_ABI_VERSION, .name = "ConditioningAverage", .display_name = "Conditioning (Average)",
    .category = "model/conditioning/transform",
    .inputs = "{\"required\": {\"conditioning_to\": [\"CONDITIONING\"], \"conditioning_from\": [\"CONDITIONING\"], \"conditioning_to_strength\": [\"FLOAT\", {\"default\": 1.0, \"min\": 0.0, \"max\": 1.0, \"step\": 0.01}]}}",
    .outputs = cond_out, .n_outputs = 1,
    .search_aliases = (const char *const[]){"blend prompts", "interpolate conditioning", "mix prompts", "style fusion", "weighted blend", NULL},
    .run = conditioning_average_run,
};

/* ---- ConditioningZeroOut ---- */

static void zero_out(sd_cond_entry *e, void *arg) {
    (void)arg;
    memset(e->cond->data, 0, e->cond->nbytes);
    if (e->pooled) memset(e->pooled->data, 0, e->pooled->nbytes);
}

static int conditioning_zero_out_run(ci_call *c) {
    const sd_cond *in = get_cond(c, "conditioning");
    return in ? sd_set_cond(c, 0, cond_map(in, zero_out, NULL)) : -1;
}

const ci_node_def core_conditioning_zero_out = {
    .abi_version = CI_ABI_VERSION, .name = "ConditioningZeroOut", .display_name = "Conditioning Zero Out",
    .category = "model/conditioning/transform",
    .inputs = "{\"required\": {\"conditioning\": [\"CONDITIONING\"]}}",
    .outputs = cond_out, .n_outputs = 1,
    .search_aliases = (const char *const[]){"null conditioning", "clear conditioning", NULL},
    .run = conditioning_zero_out_run,
};
