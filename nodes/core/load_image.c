/* load_image.c -- LoadImage and LoadImageMask: files of the input folder.
 *
 * A name may carry ComfyUI's annotation (" [input]", " [output]", " [temp]") to pick the
 * folder; the resolved path must stay inside it after symlinks are resolved. The combo
 * lists the image files at the top of the input folder; validation only checks that
 * the file exists (uploads into subfolders are valid), and the cache fingerprint is
 * the file's SHA-256, so replacing the file re-runs the node.
 */
#include "core.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include "base/image.h"

/* ---- paths ---- */

int core_annotated_path(const ci_host *host, const char *name, char *out, size_t outlen) {
    static const struct { const char *tag; ci_dir dir; } tags[] = {
        { " [input]", CI_DIR_INPUT }, { " [output]", CI_DIR_OUTPUT }, { " [temp]", CI_DIR_TEMP },
    };
    if (!name || !*name) return -1;
    ci_dir dir = CI_DIR_INPUT;
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof tags / sizeof *tags; i++) {
        size_t t = strlen(tags[i].tag);
        if (n > t && !strcmp(name + n - t, tags[i].tag)) { dir = tags[i].dir; n -= t; break; }
    }
    const char *base = host->dir(dir);
    char root[PATH_MAX], joined[PATH_MAX * 2], real[PATH_MAX];
    if (!base || !realpath(base, root) || name[0] == '/') return -1;
    snprintf(joined, sizeof joined, "%s/%.*s", root, (int)n, name);
    if (!realpath(joined, real)) return -1;
    size_t rl = strlen(root);
    if (strncmp(real, root, rl) || (real[rl] != '/' && real[rl] != 0)) return -1;
    snprintf(out, outlen, "%s", real);
    return 0;
}

static int is_image_name(const char *f) {
    static const char *ext[] = { ".png", ".jpg", ".jpeg", ".jpe", ".gif", ".webp", ".bmp", ".tif",
                                 ".tiff", ".ico", ".svg", ".avif", ".heic", ".heif", ".pbm",
                                 ".pgm", ".ppm", ".pnm", ".tga", ".psd", ".hdr", ".jfif", ".apng" };
    const char *dot = strrchr(f, '.');
    for (size_t i = 0; dot && i < sizeof ext / sizeof *ext; i++)
        if (!strcasecmp(dot, ext[i])) return 1;
    return 0;
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static cJSON *input_images(const ci_host *host, const char *input) {
    if (strcmp(input, "image")) return NULL;
    cJSON *list = cJSON_CreateArray();
    const char *dir = host->dir(CI_DIR_INPUT);
    DIR *d = dir ? opendir(dir) : NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] == '.' && (!e->d_name[1] || !strcmp(e->d_name, ".."))) continue;
        if (stat(path, &st) || !S_ISREG(st.st_mode) || !is_image_name(e->d_name)) continue;
        if (n == cap) {
            char **p = realloc(names, (cap = cap ? cap * 2 : 32) * sizeof *p);
            if (!p) break;
            names = p;
        }
        names[n] = strdup(e->d_name);
        if (names[n]) n++;
    }
    if (d) closedir(d);
    if (n) qsort(names, n, sizeof *names, str_cmp);
    for (size_t i = 0; i < n; i++) { cJSON_AddItemToArray(list, cJSON_CreateString(names[i])); free(names[i]); }
    free(names);
    return list;
}

/* ---- validation and fingerprint ---- */

static int image_exists(ci_call *c, char *msg, size_t msglen) {
    const char *name = ci_get_string(c, "image");
    char path[PATH_MAX];
    struct stat st;
    if (name && core_annotated_path(c->host, name, path, sizeof path) == 0 && !stat(path, &st) && S_ISREG(st.st_mode))
        return 0;
    snprintf(msg, msglen, "Invalid image file: %s", name ? name : "None");
    return -1;
}

char *core_file_sha256(ci_call *c, const char *input) {
    char path[PATH_MAX];
    if (core_annotated_path(c->host, ci_get_string(c, input), path, sizeof path) < 0) return NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (size_t n; ok && (n = fread(buf, 1, sizeof buf, f)) > 0;) ok = EVP_DigestUpdate(ctx, buf, n);
    ok = ok && !ferror(f) && EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    fclose(f);
    char *hex = ok ? malloc(2 * mdlen + 1) : NULL;
    for (unsigned i = 0; hex && i < mdlen; i++) sprintf(hex + 2 * i, "%02x", md[i]);
    return hex;
}

static char *image_sha256(ci_call *c) { return core_file_sha256(c, "image"); }

/* ---- decoding into IMAGE / MASK ---- */

/* All frames of the named file (EXIF-upright); the count, or -1 after ci_fail(). */
static int load(ci_call *c, img8 **frames) {
    char path[PATH_MAX], err[300];
    const char *name = ci_get_string(c, "image");
    if (!name || core_annotated_path(c->host, name, path, sizeof path) < 0)
        return ci_fail(c, "FileNotFoundError", "[Errno 2] No such file or directory: '%s'", name ? name : "");
    int n = image_load_frames(path, frames, err, sizeof err);
    if (n < 0) return ci_fail(c, "PIL.UnidentifiedImageError", "%s: %s", name, err);
    return n;
}

static void free_frames(img8 *frames, int n) {
    for (int i = 0; i < n; i++) img8_free(&frames[i]);
    free(frames);
}

static int has_alpha(const img8 *im) { return im->channels == 2 || im->channels == 4; }

/* Does any pixel of any frame have alpha < 255 (a GIF with transparency)? */
static int any_transparent(const img8 *f, int n) {
    for (int i = 0; i < n; i++)
        for (int64_t p = 0; has_alpha(&f[i]) && p < (int64_t)f[i].w * f[i].h; p++)
            if (f[i].px[p * f[i].channels + f[i].channels - 1] < 255) return 1;
    return 0;
}

/* Channel ch of frame im into dst (h*w floats); absent channels read as 255. */
static void channel_to(const img8 *im, int ch, int invert, float *dst) {
    for (int64_t p = 0, n = (int64_t)im->w * im->h; p < n; p++) {
        float v = ch < im->channels ? im->px[p * im->channels + ch] / 255.0f : 1.0f;
        dst[p] = invert ? 1.0f - v : v;
    }
}

/* ComfyUI's LoadImage: every frame of the first frame's size, RGB; MASK = 1 - alpha,
 * or (1, 64, 64) zeros per frame when the file has no transparency. */
static int load_image_run(ci_call *c) {
    img8 *f;
    int n = load(c, &f);
    if (n < 0) return -1;
    int keep = 0;
    for (int i = 0; i < n; i++) keep += f[i].w == f[0].w && f[i].h == f[0].h;
    int alpha = n > 1 ? any_transparent(f, n) : has_alpha(&f[0]);
    int64_t h = f[0].h, w = f[0].w, mh = alpha ? h : 64, mw = alpha ? w : 64;
    int64_t ne[4] = { keep, h, w, 3 }, me[3] = { keep, mh, mw };
    tensor *img = tensor_new(DT_F32, 4, ne), *mask = tensor_new(DT_F32, 3, me);
    for (int i = 0, b = 0; img && mask && i < n; i++) {
        const img8 *im = &f[i];
        if (im->w != w || im->h != h) continue;
        float *d = (float *)img->data + b * h * w * 3;
        for (int64_t p = 0; p < h * w; p++)
            for (int k = 0; k < 3; k++) d[p * 3 + k] = im->px[p * im->channels + (im->channels >= 3 ? k : 0)] / 255.0f;
        if (alpha) channel_to(im, im->channels - 1, 1, (float *)mask->data + b * h * w);
        b++;
    }
    free_frames(f, n);
    if (!img || !mask) { tensor_free(img); tensor_free(mask); return ci_fail(c, "MemoryError", "out of memory"); }
    if (set_tensor(c, 0, CI_TYPE_IMAGE, img) < 0) { tensor_free(mask); return -1; }
    return set_tensor(c, 1, CI_TYPE_MASK, mask);
}

/* ComfyUI's LoadImageMask: the first frame as RGBA, one channel as a (1, H, W) mask;
 * alpha is inverted. */
static int load_image_mask_run(ci_call *c) {
    img8 *f;
    int n = load(c, &f);
    if (n < 0) return -1;
    const img8 *im = &f[0];
    const char *channel = ci_get_string(c, "channel");
    int is_alpha = !channel || !strcmp(channel, "alpha"), gray = im->channels <= 2;
    int ch = is_alpha ? (has_alpha(im) ? im->channels - 1 : 9)
           : gray ? 0 : !strcmp(channel, "red") ? 0 : !strcmp(channel, "green") ? 1 : 2;
    int64_t ne[3] = { 1, im->h, im->w };
    tensor *m = tensor_new(DT_F32, 3, ne);
    if (m) channel_to(im, ch, is_alpha, m->data);
    free_frames(f, n);
    return set_tensor(c, 0, CI_TYPE_MASK, m);
}

static const ci_output_def load_image_out[] = { { "IMAGE", NULL, 0, NULL }, { "MASK", NULL, 0, NULL } };
static const ci_output_def mask_out[] = { { "MASK", NULL, 0, NULL } };
static const char *const validates_image[] = { "image", NULL };

const ci_node_def core_load_image = {
    .abi_version = CI_ABI_VERSION, .name = "LoadImage", .display_name = "Load Image",
    .category = "image",
    .inputs = "{\"required\": {\"image\": [[], {\"image_upload\": true}]}}",
    .outputs = load_image_out, .n_outputs = 2,
    .search_aliases = (const char *const[]){ "load image", "open image", "import image", "image input", "upload image", "read image", "image loader", NULL },
    .essentials_category = "Basics",
    .options = input_images,
    .validate_inputs = validates_image, .validate = image_exists,
    .fingerprint = image_sha256,
    .run = load_image_run,
};

const ci_node_def core_load_image_mask = {
    .abi_version = CI_ABI_VERSION, .name = "LoadImageMask", .display_name = "Load Image (as Mask)",
    .category = "image",
    .inputs = "{\"required\": {\"image\": [[], {\"image_upload\": true}], \"channel\": [[\"alpha\", \"red\", \"green\", \"blue\"]]}}",
    .outputs = mask_out, .n_outputs = 1,
    .search_aliases = (const char *const[]){ "import mask", "alpha mask", "channel mask", NULL },
    .essentials_category = "Image Tools",
    .options = input_images,
    .validate_inputs = validates_image, .validate = image_exists,
    .fingerprint = image_sha256,
    .run = load_image_mask_run,
};
