/* preview.c -- what happens between two sampler steps: progress, interrupt, preview.
 *
 * Every step reports value/max to the host (the WebSocket "progress" message) and
 * stops sampling when the host says the prompt was interrupted. With previews on
 * (--preview-method latent2rgb or auto, or the prompt's extra_data), the first item of
 * the step's x0 prediction is mapped to RGB with ComfyUI's SD1.5 latent_rgb_factors,
 * one pixel per latent cell, and sent as a PNG frame. With --preview-method taesd (or
 * auto) and models/vae_approx/taesd_decoder.{safetensors,pth} in place, the TAESD decoder
 * (models/taesd.h) turns that latent into a full-size picture instead, as ComfyUI's
 * TAESDPreviewerImpl does; without the weights, taesd falls back to latent2rgb and the
 * log says so once. The decoder is loaded on first use and kept (2.4 M parameters).
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

/* PNG at compression 1, as ComfyUI sends PNG previews: stb's JPEG writer trips UBSan. */
static void send_png(const sd_step_ctx *s, img8 *im) {
    unsigned char *png;
    size_t len;
    char err[128];
    if (png_encode(im, NULL, 0, 1, &png, &len, err, sizeof err) == 0) {
        s->call->host->preview(s->call, 2, png, len);
        free(png);
    }
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

/* The TAESD decoder from vae_approx, loaded once; NULL when absent or unloadable. */
static taesd *taesd_get(const ci_call *c) {
    static taesd *tae;
    static int tried;
    if (tried) return tae;
    tried = 1;
    static const char *const names[] = {"taesd_decoder.safetensors", "taesd_decoder.pth"};
    char path[4096], err[512];
    for (size_t i = 0; i < sizeof names / sizeof *names && !tae; i++) {
        if (c->host->model_path("vae_approx", names[i], path, sizeof path)) continue;
        char *oerr = NULL;
        ckpt *ck = ckpt_open(path, &oerr);
        if (!ck) {
            log_warn("previews: cannot open %s: %s", path, oerr ? oerr : "?");
            free(oerr);
            continue;
        }
        tae = taesd_load(ck, 4, err, sizeof err);
        ckpt_close(ck);
        if (tae) log_info("previews: TAESD decoder from %s", path);
        else log_warn("previews: %s: %s", path, err);
    }
    return tae;
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

int sd_on_step(void *ctx, int step, int total, const float *x, const float *denoised) {
    sd_step_ctx *s = ctx;
    ci_call *c = s->call;
    int method = c->host->preview_method(c);
    const float *x0 = denoised ? denoised : x;
    taesd *t = method == PREVIEW_TAESD || method == PREVIEW_AUTO ? taesd_get(c) : NULL;
    if (method == PREVIEW_TAESD && !t) {
        static int told;
        if (!told) log_warn("previews: no TAESD decoder in models/vae_approx; using latent2rgb");
        told = 1;
    }
    if (method != PREVIEW_NONE && !(t && send_taesd(s, t, x0) == 0)) send_latent2rgb(s, x0);
    return c->host->progress(c, step + 1, total);
}
