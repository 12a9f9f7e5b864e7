/* encode.c -- CLIPTextEncode: text to CONDITIONING through the checkpoint's CLIP.
 *
 * ComfyUI's CONDITIONING is a list of [cond, {"pooled_output": pooled}]; the text
 * encoder gives one entry (prompt weights, long prompts in 77-token chunks and
 * embeddings are clip_encode's business).
 */
#include "sd.h"

#include <stdlib.h>

void sd_conditioning_free(void *p) {
    sd_conditioning *c = p;
    for (int i = 0; c && i < c->n; i++) { tensor_free(c->items[i].cond); tensor_free(c->items[i].pooled); }
    if (c) free(c->items);
    free(c);
}

static int clip_text_encode_run(ci_call *c) {
    const sd_handle *h = ci_get_object(c, "clip", SD_TYPE_CLIP);
    const char *text = ci_get_string(c, "text");
    if (!h)
        return ci_fail(c, "RuntimeError", "ERROR: clip input is invalid: None\n\nIf the clip is from a checkpoint "
                       "loader node your checkpoint does not contain a valid clip or text encoder model.");
    sd_conditioning *out = calloc(1, sizeof *out);
    sd_cond_entry *e = out ? calloc(1, sizeof *e) : NULL;
    if (!e) { free(out); return ci_fail(c, "MemoryError", "out of memory"); }
    out->n = 1;
    out->items = e;
    char *err = NULL;
    if (clip_encode(h->ck->clip, text ? text : "", h->clip_skip ? h->clip_skip : 0, &e->cond, &e->pooled, &err)) {
        ci_fail(c, "RuntimeError", "%s", err ? err : "CLIP encoding failed");
        free(err);
        sd_conditioning_free(out);
        return -1;
    }
    return ci_set_object(c, 0, SD_TYPE_CONDITIONING, out, sd_conditioning_free);
}

static const ci_output_def sd_clip_text_encode_out[] = {
    { "CONDITIONING", NULL, 0, "A conditioning containing the embedded text used to guide the diffusion model." },
};
const ci_node_def sd_clip_text_encode = {
    .abi_version = CI_ABI_VERSION, .name = "CLIPTextEncode", .display_name = "CLIP Text Encode (Prompt)",
    .description = "Encodes a text prompt using a CLIP model into an embedding that can be used to guide the diffusion model towards generating specific images.",
    .category = "model/conditioning",
    .inputs = "{\"required\": {\"text\": [\"STRING\", {\"multiline\": true, \"dynamicPrompts\": true, \"tooltip\": \"T"
              "he text to be encoded.\"}], \"clip\": [\"CLIP\", {\"tooltip\": \"The CLIP model used for encoding "
              "the text.\"}]}}",
    .outputs = sd_clip_text_encode_out, .n_outputs = 1,
    .search_aliases = (const char *const[]){ "text", "prompt", "text prompt", "positive prompt", "negative prompt", "encode text", "text encoder", "encode prompt", NULL },
    .run = clip_text_encode_run,
};
