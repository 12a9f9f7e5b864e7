/* save_image.c -- SaveImage and PreviewImage: PNG files named as ComfyUI names them.
 *
 * File naming (spec 7.3) is save_path.c's. Metadata (7.4): tEXt "prompt" with the normalised prompt and one chunk per
 * extra_pnginfo key, as Python-style JSON, unless metadata is disabled.
 * PreviewImage is the same into the temp folder with a random prefix, compression 1.
 */
#include "core.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>
#include "base/image.h"
#include "base/json.h"

/* ---- pixels and metadata ---- */

static int to_img8(const tensor *img, int64_t b, img8 *out) {
    int64_t h = img->ne[1], w = img->ne[2], ch = img->ne[3];
    if (ch < 1 || ch > 4) return -1;
    out->w = (int)w; out->h = (int)h; out->channels = (int)ch;
    out->px = malloc((size_t)(w * h * ch));
    if (!out->px) return -1;
    const float *s = (const float *)img->data + b * h * w * ch;
    for (int64_t i = 0; i < w * h * ch; i++) {
        float v = 255.0f * s[i];
        out->px[i] = (unsigned char)(v > 255.0f ? 255.0f : v > 0.0f ? v : 0.0f);   /* clip, truncate */
    }
    return 0;
}

int core_metadata(ci_call *c, png_text_kv *kv, int max) {
    if (c->host->disable_metadata()) return 0;
    int n = 0;
    const cJSON *prompt = c->host->hidden(c, "prompt");
    if (prompt) { kv[n].key = "prompt"; kv[n].text = json_print(prompt); n++; }
    const cJSON *extra = c->host->hidden(c, "extra_pnginfo");
    for (const cJSON *e = cJSON_IsObject(extra) ? extra->child : NULL; e && n < max; e = e->next) {
        kv[n].key = e->string;
        kv[n].text = json_print(e);
        n++;
    }
    return n;
}

/* ---- the node ---- */

static int save(ci_call *c, ci_dir where, const char *prefix, int compression, const char *type) {
    const tensor *img = ci_get_object(c, "images", CI_TYPE_IMAGE);
    if (!img || img->ndim != 4 || img->dt != DT_F32) return ci_fail(c, "TypeError", "images is not an IMAGE");
    save_path sp;
    if (save_path_make(c, where, prefix, img->ne[2], img->ne[1], &sp) < 0) return -1;
    const char *name = sp.name, *subfolder = sp.subfolder, *dir = sp.dir;
    int64_t counter = sp.counter;
    png_text_kv kv[64];
    int n_kv = core_metadata(c, kv, 64);
    int rc = 0;
    for (int64_t b = 0; b < img->ne[0] && rc == 0; b++, counter++) {
        char batch[24], file[PATH_MAX], path[PATH_MAX * 2], err[300];
        snprintf(batch, sizeof batch, "%lld", (long long)b);
        sbuf fn = {0};
        for (const char *p = name; *p;) {   /* %batch_num% */
            if (!strncmp(p, "%batch_num%", 11)) { sb_puts(&fn, batch); p += 11; }
            else sb_putn(&fn, p++, 1);
        }
        char *base = sb_take(&fn);
        snprintf(file, sizeof file, "%s_%05lld_.png", base ? base : name, (long long)counter);
        free(base);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        img8 im;
        if (to_img8(img, b, &im) < 0) { rc = ci_fail(c, "ValueError", "cannot save an image with %lld channels", (long long)img->ne[3]); break; }
        if (png_write_file(path, &im, kv, n_kv, compression, err, sizeof err) < 0) rc = ci_fail(c, "OSError", "%s", err);
        img8_free(&im);
        if (rc) break;
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "filename", file);
        cJSON_AddStringToObject(item, "subfolder", subfolder);
        cJSON_AddStringToObject(item, "type", type);
        c->host->ui_add(c, "images", item);
    }
    for (int i = 0; i < n_kv; i++) free(kv[i].text);
    save_path_free(&sp);
    return rc ? rc : ci_pass(c, 0, "images");
}

static int save_image_run(ci_call *c) {
    const char *prefix = ci_get_string(c, "filename_prefix");
    return save(c, CI_DIR_OUTPUT, prefix ? prefix : "ComfyUI", 4, "output");
}

/* "ComfyUI_temp_" + 5 letters from ComfyUI's alphabet (its typo included). */
static int preview_image_run(ci_call *c) {
    static const char letters[] = "abcdefghijklmnopqrstupvxyz";
    unsigned char r[5];
    if (RAND_bytes(r, sizeof r) != 1) memset(r, 0, sizeof r);
    char prefix[32] = "ComfyUI_temp_";
    for (int i = 0; i < 5; i++) prefix[13 + i] = letters[r[i] % 26];
    prefix[18] = 0;
    return save(c, CI_DIR_TEMP, prefix, 1, "temp");
}

static const ci_output_def images_out[] = { { "IMAGE", "images", 0, NULL } };

const ci_node_def core_save_image = {
    .abi_version = CI_ABI_VERSION, .name = "SaveImage", .display_name = "Save Image",
    .description = "Saves the input images to your ComfyUI output directory.",
    .category = "image",
    .inputs = "{\"required\": {\"images\": [\"IMAGE\", {\"tooltip\": \"The images to save.\"}], \"filename_prefix\": [\"STRING\", {\"default\": \"ComfyUI\", \"tooltip\": \"The prefix for the file to save. This may include formatting information such as %date:yyyy-MM-dd% or %Empty Latent Image.width% to include values from nodes.\"}]}, \"hidden\": {\"prompt\": \"PROMPT\", \"extra_pnginfo\": \"EXTRA_PNGINFO\"}}",
    .outputs = images_out, .n_outputs = 1,
    .flags = CI_OUTPUT_NODE,
    .search_aliases = (const char *const[]){ "save", "save image", "export image", "output image", "write image", "download", NULL },
    .essentials_category = "Basics",
    .run = save_image_run,
};

const ci_node_def core_preview_image = {
    .abi_version = CI_ABI_VERSION, .name = "PreviewImage", .display_name = "Preview Image",
    .description = "Saves the input images to your ComfyUI output directory.",
    .category = "image",
    .inputs = "{\"required\": {\"images\": [\"IMAGE\"]}, \"hidden\": {\"prompt\": \"PROMPT\", \"extra_pnginfo\": \"EXTRA_PNGINFO\"}}",
    .outputs = images_out, .n_outputs = 1,
    .flags = CI_OUTPUT_NODE,
    .search_aliases = (const char *const[]){ "preview", "preview image", "show image", "view image", "display image", "image viewer", NULL },
    .essentials_category = "Basics",
    .run = preview_image_run,
};
