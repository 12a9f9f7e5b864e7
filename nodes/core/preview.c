/* preview.c -- what happens between two sampler steps: progress, interrupt, preview.
 *
 * Every step reports value/max to the host (the WebSocket "progress" message) and
 * stops sampling when the host says the prompt was interrupted. With previews on
 * (--preview-method latent2rgb or auto, or the prompt's extra_data), the first item of
 * the step's x0 prediction is mapped to RGB with ComfyUI's SD1.5 latent_rgb_factors,
 * one pixel per latent cell, and sent as a PNG frame. TAESD previews need the
 * taesd decoder weights, which comfyui-ipex cannot run yet: they fall back to
 * latent2rgb, and the log says so once.
 */
#include "sd.h"

#include <stdlib.h>
#include <string.h>

#include "base/image.h"
#include "base/log.h"

enum { PREVIEW_NONE, PREVIEW_LATENT2RGB, PREVIEW_TAESD, PREVIEW_AUTO };

/* comfy/latent_formats.py SD15.latent_rgb_factors: (latent channel, RGB). */
static const float sd15_rgb[4][3] = {
    {0.3512f, 0.2297f, 0.3227f},
    {0.3250f, 0.4974f, 0.2350f},
    {-0.2829f, 0.1762f, 0.2721f},
    {-0.2120f, -0.2616f, -0.7177f},
};

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
            v = (v + 1.0f) / 2.0f;
            v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
            rgb[i * 3 + k] = (unsigned char)(v * 255.0f);
        }
    /* PNG at compression 1, as ComfyUI sends PNG previews: stb's JPEG writer trips UBSan. */
    unsigned char *png;
    size_t len;
    char err[128];
    if (png_encode(&im, NULL, 0, 1, &png, &len, err, sizeof err) == 0) {
        s->call->host->preview(s->call, 2, png, len);
        free(png);
    }
    free(rgb);
}

int sd_on_step(void *ctx, int step, int total, const float *x, const float *denoised) {
    sd_step_ctx *s = ctx;
    ci_call *c = s->call;
    int method = c->host->preview_method(c);
    if (method == PREVIEW_TAESD) {
        static int told;
        if (!told) log_warn("previews: TAESD is not available in comfyui-ipex; using latent2rgb");
        told = 1;
    }
    if (method != PREVIEW_NONE) send_latent2rgb(s, denoised ? denoised : x);
    return c->host->progress(c, step + 1, total);
}
