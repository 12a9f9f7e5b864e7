/* image_ops.c -- image nodes that need no model: resize, invert, batch.
 *
 * IMAGE is (B, H, W, C) f32; resampling works on (B, C, H, W), so nodes move the
 * channel axis around core_upscale as ComfyUI's movedim(-1, 1) does.
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

static const ci_output_def image_out[] = { { "IMAGE", NULL, 0, NULL } };

static int upscale_image_to(ci_call *c, const tensor *img, int64_t w, int64_t h, const char *method,
                            const char *crop, int index) {
    char err[256] = "out of memory";
    tensor *nchw = nhwc_to_nchw(img);
    tensor *s = nchw ? core_upscale(nchw, w, h, method, crop, err, sizeof err) : NULL;
    tensor *out = s ? nchw_to_nhwc(s) : NULL;
    tensor_free(nchw);
    tensor_free(s);
    if (!out) return ci_fail(c, "RuntimeError", "%s", err);
    return set_tensor(c, index, CI_TYPE_IMAGE, out);
}

static const tensor *image_in(ci_call *c, const char *name) {
    const tensor *t = ci_get_object(c, name, CI_TYPE_IMAGE);
    return t && t->ndim == 4 && t->dt == DT_F32 ? t : NULL;
}

/* ---- ImageScale ---- */

static int image_scale_run(ci_call *c) {
    const tensor *img = image_in(c, "image");
    if (!img) return ci_fail(c, "TypeError", "image is not an IMAGE");
    int64_t w = ci_get_int(c, "width"), h = ci_get_int(c, "height");
    if (w == 0 && h == 0) return ci_pass(c, 0, "image");
    if (w == 0) { w = py_round((double)img->ne[2] * (double)h / (double)img->ne[1]); if (w < 1) w = 1; }
    else if (h == 0) { h = py_round((double)img->ne[1] * (double)w / (double)img->ne[2]); if (h < 1) h = 1; }
    return upscale_image_to(c, img, w, h, ci_get_string(c, "upscale_method"), ci_get_string(c, "crop"), 0);
}

const ci_node_def core_image_scale = {
    .abi_version = CI_ABI_VERSION, .name = "ImageScale", .display_name = "Upscale Image",
    .category = "image/upscaling",
    .inputs = "{\"required\": {\"image\": [\"IMAGE\"], \"upscale_method\": [[\"nearest-exact\", \"bilinear\", \"area\", \"bicubic\", \"lanczos\"]], \"width\": [\"INT\", {\"default\": 512, \"min\": 0, \"max\": 16384, \"step\": 1}], \"height\": [\"INT\", {\"default\": 512, \"min\": 0, \"max\": 16384, \"step\": 1}], \"crop\": [[\"disabled\", \"center\"]]}}",
    .outputs = image_out, .n_outputs = 1,
    .search_aliases = (const char *const[]){ "resize", "resize image", "scale image", "image resize", "zoom", "zoom in", "change size", NULL },
    .essentials_category = "Image Tools",
    .run = image_scale_run,
};

/* ---- ImageScaleBy ---- */

static int image_scale_by_run(ci_call *c) {
    const tensor *img = image_in(c, "image");
    if (!img) return ci_fail(c, "TypeError", "image is not an IMAGE");
    double k = ci_get_float(c, "scale_by");
    int64_t w = py_round((double)img->ne[2] * k), h = py_round((double)img->ne[1] * k);
    return upscale_image_to(c, img, w, h, ci_get_string(c, "upscale_method"), "disabled", 0);
}

const ci_node_def core_image_scale_by = {
    .abi_version = CI_ABI_VERSION, .name = "ImageScaleBy", .display_name = "Upscale Image By",
    .category = "image/upscaling",
    .inputs = "{\"required\": {\"image\": [\"IMAGE\"], \"upscale_method\": [[\"nearest-exact\", \"bilinear\", \"area\", \"bicubic\", \"lanczos\"]], \"scale_by\": [\"FLOAT\", {\"default\": 1.0, \"min\": 0.01, \"max\": 8.0, \"step\": 0.01}]}}",
    .outputs = image_out, .n_outputs = 1,
    .essentials_category = "Image Tools",
    .run = image_scale_by_run,
};

/* ---- ImageInvert ---- */

static int image_invert_run(ci_call *c) {
    const tensor *img = image_in(c, "image");
    if (!img) return ci_fail(c, "TypeError", "image is not an IMAGE");
    tensor *o = tensor_new(DT_F32, 4, img->ne);
    if (!o) return set_tensor(c, 0, CI_TYPE_IMAGE, NULL);
    const float *s = img->data;
    float *d = o->data;
    for (int64_t i = 0, n = tensor_numel(img); i < n; i++) d[i] = 1.0f - s[i];
    return set_tensor(c, 0, CI_TYPE_IMAGE, o);
}

const ci_node_def core_image_invert = {
    .abi_version = CI_ABI_VERSION, .name = "ImageInvert", .display_name = "Invert Image Colors",
    .category = "image/color",
    .inputs = "{\"required\": {\"image\": [\"IMAGE\"]}}",
    .outputs = image_out, .n_outputs = 1,
    .search_aliases = (const char *const[]){ "reverse colors", NULL },
    .essentials_category = "Image Tools",
    .run = image_invert_run,
};

/* ---- ImageBatch ---- */

/* One more channel filled with 1.0 (torch.nn.functional.pad(x, (0, 1), value=1.0)). */
static tensor *pad_channel(const tensor *x) {
    int64_t ne[4] = { x->ne[0], x->ne[1], x->ne[2], x->ne[3] + 1 };
    tensor *o = tensor_new(DT_F32, 4, ne);
    if (!o) return NULL;
    const float *s = x->data;
    float *d = o->data;
    for (int64_t p = 0, n = ne[0] * ne[1] * ne[2]; p < n; p++) {
        memcpy(d + p * ne[3], s + p * x->ne[3], (size_t)x->ne[3] * sizeof *d);
        d[p * ne[3] + x->ne[3]] = 1.0f;
    }
    return o;
}

static int image_batch_run(ci_call *c) {
    const tensor *a = image_in(c, "image1"), *b = image_in(c, "image2");
    if (!a || !b) return ci_fail(c, "TypeError", "image1 and image2 must be IMAGEs");
    tensor *pa = NULL, *pb = NULL, *rb = NULL;
    if (a->ne[3] > b->ne[3]) b = pb = pad_channel(b);
    else if (a->ne[3] < b->ne[3]) a = pa = pad_channel(a);
    char err[256] = "out of memory";
    int ok = a && b;
    if (ok && (a->ne[1] != b->ne[1] || a->ne[2] != b->ne[2] || a->ne[3] != b->ne[3])) {
        tensor *nchw = nhwc_to_nchw(b);
        tensor *s = nchw ? core_upscale(nchw, a->ne[2], a->ne[1], "bilinear", "center", err, sizeof err) : NULL;
        b = rb = s ? nchw_to_nhwc(s) : NULL;
        tensor_free(nchw); tensor_free(s);
        ok = b != NULL;
    }
    tensor *o = NULL;
    if (ok) {
        int64_t ne[4] = { a->ne[0] + b->ne[0], a->ne[1], a->ne[2], a->ne[3] };
        o = tensor_new(DT_F32, 4, ne);
        if (o) {
            memcpy(o->data, a->data, a->nbytes);
            memcpy((char *)o->data + a->nbytes, b->data, b->nbytes);
        }
    }
    tensor_free(pa); tensor_free(pb); tensor_free(rb);
    if (!o) return ci_fail(c, "RuntimeError", "%s", err);
    return set_tensor(c, 0, CI_TYPE_IMAGE, o);
}

const ci_node_def core_image_batch = {
    .abi_version = CI_ABI_VERSION, .name = "ImageBatch", .display_name = "Batch Images (DEPRECATED)",
    .category = "image/batch",
    .inputs = "{\"required\": {\"image1\": [\"IMAGE\"], \"image2\": [\"IMAGE\"]}}",
    .outputs = image_out, .n_outputs = 1,
    .flags = CI_DEPRECATED,
    .search_aliases = (const char *const[]){ "combine images", "merge images", "stack images", NULL },
    .run = image_batch_run,
};
