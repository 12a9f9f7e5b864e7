/* conditioning.c -- ConditioningZeroOut and ConditioningAverage, arithmetic on
 * CONDITIONING entries as ComfyUI does it (float32, Python scalars rounded once). */
#include "sd.h"

#include <stdlib.h>
#include <string.h>

static tensor *clone(const tensor *t) {
    tensor *c = t ? tensor_new(t->dt, t->ndim, t->ne) : NULL;
    if (c) memcpy(c->data, t->data, t->nbytes);
    return c;
}

static sd_conditioning *cond_new(int n) {
    sd_conditioning *c = calloc(1, sizeof *c);
    if (c && !(c->items = calloc((size_t)(n ? n : 1), sizeof *c->items))) { free(c); return NULL; }
    if (c) c->n = n;
    return c;
}

static int zero_out_run(ci_call *c) {
    const sd_conditioning *in = ci_get_object(c, "conditioning", SD_TYPE_CONDITIONING);
    if (!in) return ci_fail(c, "TypeError", "conditioning is not a CONDITIONING");
    sd_conditioning *out = cond_new(in->n);
    for (int i = 0; out && i < in->n; i++) {
        const sd_cond_entry *e = &in->items[i];
        out->items[i].cond = tensor_new(DT_F32, e->cond->ndim, e->cond->ne);
        if (e->pooled) out->items[i].pooled = tensor_new(DT_F32, e->pooled->ndim, e->pooled->ne);
        if (!out->items[i].cond || (e->pooled && !out->items[i].pooled)) { sd_conditioning_free(out); out = NULL; }
    }
    if (!out) return ci_fail(c, "torch.OutOfMemoryError", "out of memory");
    return ci_set_object(c, 0, SD_TYPE_CONDITIONING, out, sd_conditioning_free);
}

/* a * s + b * (1 - s) elementwise; b may be shorter (missing elements count as 0). */
static void blend(float *dst, const float *a, const float *b, int64_t n, int64_t nb, double s) {
    float fs = (float)s, fr = (float)(1.0 - s);
    for (int64_t i = 0; i < n; i++) dst[i] = a[i] * fs + (i < nb ? b[i] : 0.0f) * fr;
}

static int average_run(ci_call *c) {
    const sd_conditioning *to = ci_get_object(c, "conditioning_to", SD_TYPE_CONDITIONING);
    const sd_conditioning *from = ci_get_object(c, "conditioning_from", SD_TYPE_CONDITIONING);
    if (!to || !from || from->n < 1) return ci_fail(c, "TypeError", "conditioning_to and conditioning_from must be CONDITIONING");
    double s = ci_get_float(c, "conditioning_to_strength");
    const tensor *cf = from->items[0].cond, *pf = from->items[0].pooled;
    sd_conditioning *out = cond_new(to->n);
    for (int i = 0; out && i < to->n; i++) {
        const tensor *t1 = to->items[i].cond, *pt = to->items[i].pooled ? to->items[i].pooled : pf;
        sd_cond_entry *o = &out->items[i];
        o->cond = tensor_new(DT_F32, t1->ndim, t1->ne);
        if (o->cond) {
            /* cond_from[:, :tokens] padded with zeros to t1's token count */
            int64_t tokens = t1->ne[1], dim = t1->ne[2], from_tokens = cf->ne[1] < tokens ? cf->ne[1] : tokens;
            blend(o->cond->data, t1->data, cf->data, tokens * dim, cf->ne[2] == dim ? from_tokens * dim : 0, s);
        }
        if (pf && pt) {
            o->pooled = tensor_new(DT_F32, pt->ndim, pt->ne);
            if (o->pooled) blend(o->pooled->data, pt->data, pf->data, tensor_numel(pt), tensor_numel(pf), s);
        } else if (pf) {
            o->pooled = clone(pf);
        }
        if (!o->cond || (pf && !o->pooled)) { sd_conditioning_free(out); out = NULL; }
    }
    if (!out) return ci_fail(c, "torch.OutOfMemoryError", "out of memory");
    return ci_set_object(c, 0, SD_TYPE_CONDITIONING, out, sd_conditioning_free);
}

static const ci_output_def sd_conditioning_zero_out_out[] = {
    { "CONDITIONING", NULL, 0, NULL },
};
const ci_node_def sd_conditioning_zero_out = {
    .abi_version = CI_ABI_VERSION, .name = "ConditioningZeroOut", .display_name = "Conditioning Zero Out",
    .category = "model/conditioning/transform",
    .inputs = "{\"required\": {\"conditioning\": [\"CONDITIONING\"]}}",
    .outputs = sd_conditioning_zero_out_out, .n_outputs = 1,
    .search_aliases = (const char *const[]){ "null conditioning", "clear conditioning", NULL },
    .run = zero_out_run,
};

static const ci_output_def sd_conditioning_average_out[] = {
    { "CONDITIONING", NULL, 0, NULL },
};
const ci_node_def sd_conditioning_average = {
    .abi_version = CI_ABI_VERSION, .name = "ConditioningAverage", .display_name = "Conditioning (Average)",
    .category = "model/conditioning/transform",
    .inputs = "{\"required\": {\"conditioning_to\": [\"CONDITIONING\"], \"conditioning_from\": [\"CONDITIONING\"], "
              "\"conditioning_to_strength\": [\"FLOAT\", {\"default\": 1.0, \"min\": 0.0, \"max\": 1.0, \"step\": 0.0"
              "1}]}}",
    .outputs = sd_conditioning_average_out, .n_outputs = 1,
    .search_aliases = (const char *const[]){ "blend prompts", "interpolate conditioning", "mix prompts", "style fusion", "weighted blend", NULL },
    .run = average_run,
};
