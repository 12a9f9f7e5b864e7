/* preview.c -- what happens between two sampler steps: progress, interrupt, preview.
 *
 * Every step reports value/max to the host (the WebSocket "progress" message) and
 * stops sampling when the host says the prompt was interrupted. With previews on
 * (--preview-method latent2rgb or auto, or the prompt's extra_data), the first item of
 * the step's x0 prediction is mapped to RGB with ComfyUI's SD1.5 latent_rgb_factors,
 * one pixel per latent cell, and sent as a PNG frame. `auto` means latent2rgb, as in
 * ComfyUI's get_previewer. With taesd and models/vae_approx/taesd_decoder.{safetensors,
 * pth} in place, the TAESD decoder (models/taesd.h) turns that latent into a full-size
 * picture instead, as ComfyUI's TAESDPreviewerImpl does; without the weights, taesd
 * falls back to latent2rgb and the log says so. Like get_previewer, the decoder file is
 * looked up once per sampling run (on its first step), so one added while the daemon
 * runs is used from the next prompt on; the loaded decoder (2.4 M parameters) is kept
 * while that lookup finds the same file. Every frame is then fitted to a square of
 * --preview-size as ComfyUI's send_image does (ImageOps.contain with PIL's bilinear
 * filter), which enlarges small frames as well as shrinking big ones.
 */
#include "sd.h"

#include <stdlib.h>
#include <string.h>

#include "base/image.h"
#include "base/log.h"
#include "models/taesd.h"

enum { PREVIEW_NONE, PREVIEW_LATENT2RGB, PREVIEW_TAESD, PREVIEW_AUTO };

/* comfy/latent_formats.py SD15.latent_rgb_factors: (latent channel, RGB). */
static const float sd15_rgb[4][3] = {
    {0.3512f, 0.2297f, 0.3227f},
    {0.3250f, 0.4974f, 0.2350f},
    {-0.2829f, 0.1762f, 0.2721f},
    {-0.2120f, -0.2616f, -0.7177f},
};

static unsigned char preview_byte(float v) {
    v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
    return (unsigned char)(v * 255.0f);
}

/* ImageOps.contain's size for a w x h picture in a max x max box (PIL's round() of
 * h / w * max): it shrinks and enlarges alike, so ComfyUI's previews always touch the
 * box. 0 when that is the picture's own size, 1 when it must be resampled. */
static int fit_size(int w, int h, int max, int *ow, int *oh) {
    if (max <= 0) return 0;
    *ow = w > h ? max : (int)py_round((double)w / h * max);
    *oh = h > w ? max : (int)py_round((double)h / w * max);
    /* a sliver PIL would refuse (size 0) keeps one pixel */
    if (*ow < 1) *ow = 1;
    if (*oh < 1) *oh = 1;
    return *ow != w || *oh != h;
}

/* An RGB picture resampled to ow x oh as PIL's resize(BILINEAR) does: each channel alike,
 * so one plane at a time. px is NULL when out of memory. */
static img8 resample_rgb(const img8 *im, int ow, int oh) {
    size_t n = (size_t)im->w * (size_t)im->h, on = (size_t)ow * (size_t)oh;
    unsigned char *a = malloc(n), *b = malloc(on);
    img8 out = {ow, oh, 3, a && b ? malloc(on * 3) : NULL};
    for (int k = 0; out.px && k < 3; k++) {
        for (size_t i = 0; i < n; i++) a[i] = im->px[i * 3 + k];
        if (pil_resample_plane(a, im->h, im->w, b, oh, ow, PIL_BILINEAR)) {
            free(out.px);
            out.px = NULL;
            break;
        }
        for (size_t i = 0; i < on; i++) out.px[i * 3 + k] = b[i];
    }
    free(a);
    free(b);
    return out;
}

/* PNG at compression 1, as ComfyUI sends PNG previews (stb's JPEG writer trips UBSan),
 * after shrinking to --preview-size. */
static void send_png(const sd_step_ctx *s, const img8 *im) {
    img8 small = {0};
    int ow, oh;
    if (fit_size(im->w, im->h, s->call->host->preview_size(), &ow, &oh)) {
        small = resample_rgb(im, ow, oh);
        if (!small.px) return;
        im = &small;
    }
    unsigned char *png;
    size_t len;
    char err[128];
    if (png_encode(im, NULL, 0, 1, &png, &len, err, sizeof err) == 0) {
        s->call->host->preview(s->call, 2, png, len);
        free(png);
    }
    free(small.px);
}

/* Item 0 of x0 (4, h, w) as ComfyUI's Latent2RGBPreviewer: factors, (v+1)/2, clamp, bytes. */
static void send_latent2rgb(const sd_step_ctx *s, const float *x0) {
    int64_t hw = s->h * s->w;
    img8 im = {(int)s->w, (int)s->h, 3, malloc((size_t)(hw * 3))};
    unsigned char *rgb = im.px;
    if (!rgb) return;
    for (int64_t i = 0; i < hw; i++)
        for (int k = 0; k < 3; k++) {
            float v = 0.0f;
            for (int ch = 0; ch < 4; ch++) v += x0[ch * hw + i] * sd15_rgb[ch][k];
            rgb[i * 3 + k] = preview_byte((v + 1.0f) / 2.0f);
        }
    send_png(s, &im);
    free(rgb);
}

/* The decoder last loaded and its file. Samplers run one at a time on the worker thread,
 * so plain statics suffice. */
static taesd *tae;
static char tae_path[4096];

static taesd *taesd_open(const char *path) {
    char *oerr = NULL, err[512];
    ckpt *ck = ckpt_open(path, &oerr);
    if (!ck) {
        log_warn("previews: cannot open %s: %s", path, oerr ? oerr : "?");
        free(oerr);
        return NULL;
    }
    taesd *t = taesd_load(ck, 4, err, sizeof err);
    ckpt_close(ck);
    if (t) log_info("previews: TAESD decoder from %s", path);
    else log_warn("previews: %s: %s", path, err);
    return t;
}

/* The decoder for this sampling run: the first file in vae_approx that loads, the kept
 * one when that is the file it came from; NULL when none does. */
static taesd *taesd_for_run(const ci_call *c) {
    static const char *const names[] = {"taesd_decoder.safetensors", "taesd_decoder.pth"};
    char path[sizeof tae_path];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (c->host->model_path("vae_approx", names[i], path, sizeof path)) continue;
        if (tae && !strcmp(path, tae_path)) return tae;
        taesd *t = taesd_open(path);
        if (!t) continue;
        taesd_free(tae);
        tae = t;
        memcpy(tae_path, path, sizeof path);
        return tae;
    }
    return NULL;
}

/* Item 0 of x0 through TAESD: a full-size picture, clamp(d, 0, 1) per pixel. 0 when sent. */
static int send_taesd(const sd_step_ctx *s, taesd *t, const float *x0) {
    int64_t lne[4] = {1, 4, s->h, s->w}, one[4] = {1, 3, 8 * s->h, 8 * s->w};
    tensor *lat = tensor_view(DT_F32, 4, lne, (void *)x0), *out = tensor_new(DT_F32, 4, one);
    char err[256];
    int rc = lat && out ? taesd_decode(t, lat, out, err, sizeof err) : -1;
    int64_t hw = one[2] * one[3];
    img8 im = {(int)one[3], (int)one[2], 3, rc ? NULL : malloc((size_t)(hw * 3))};
    if (im.px) {
        const float *d = out->data;
        for (int64_t i = 0; i < hw; i++)
            for (int k = 0; k < 3; k++) im.px[i * 3 + k] = preview_byte(d[k * hw + i]);
        send_png(s, &im);
    }
    free(im.px);
    tensor_free(lat);
    tensor_free(out);
    return im.px ? 0 : -1;
}

/* What this run previews with, settled on its first step: the TAESD decoder or NULL. */
static void pick_previewer(sd_step_ctx *s, int method) {
    s->picked = 1;
    s->tae = method == PREVIEW_TAESD ? taesd_for_run(s->call) : NULL;
    if (method == PREVIEW_TAESD && !s->tae)
        log_warn("previews: no TAESD decoder in models/vae_approx; using latent2rgb");
}

int sd_on_step(void *ctx, int step, int total, const float *x, const float *denoised) {
    sd_step_ctx *s = ctx;
    ci_call *c = s->call;
    int method = c->host->preview_method(c);
    const float *x0 = denoised ? denoised : x;
    if (method != PREVIEW_NONE && !s->picked) pick_previewer(s, method);
    if (method != PREVIEW_NONE && !(s->tae && send_taesd(s, s->tae, x0) == 0)) send_latent2rgb(s, x0);
    return c->host->progress(c, step + 1, total);
}
