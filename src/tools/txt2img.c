/* txt2img.c -- ComfyUI's default graph end to end, without the server.
 *
 *   build/txt2img [--ckpt FILE] [--tokenizer-dir DIR] [--prompt TEXT] [--negative TEXT]
 *                 [--seed N] [--steps N] [--cfg X] [--sampler NAME] [--scheduler NAME]
 *                 [--denoise X] [--size PX] [--batch N] [--out FILE.png] [--latent-out FILE]
 *                 [--eps-error REL]
 *
 * CheckpointLoaderSimple -> CLIPTextEncode (positive, negative) -> EmptyLatentImage ->
 * KSampler -> VAEDecode -> SaveImage, with the same arithmetic the nodes use: the CFG
 * guider batches cond and uncond into one UNet call, ks_sample does the rest. It is
 * the check that sampling works with the real models, and a benchmark of one picture.
 * --latent-out writes the sampled latent (B,4,h,w) as raw little-endian f32.
 * --eps-error REL multiplies every UNet output element by (1 + REL * u), u uniform in
 * [-1, 1) from a fixed sequence: run twice and compare to see how far a UNet float
 * error of that size (the fp32 conformance bound is 1e-4) carries into the picture.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "base/image.h"
#include "io/ckpt.h"
#include "models/clip_model.h"
#include "models/unet.h"
#include "models/vae.h"
#include "sampling/cfg.h"
#include "sampling/ksampler.h"

typedef struct eps_ctx {
    unet *u;
    const tensor *cond, *uncond;   /* (1, L, dim) each: conditioning ids 0 and 1 */
    double eps_error;              /* --eps-error */
    uint32_t lcg;                  /* its fixed pseudo-random sequence */
    char err[512];
} eps_ctx;

/* One UNet call on n items of (4, h, w): ids[b] 0 takes the positive context, 1 the
 * negative one. */
static int unet_call(eps_ctx *e, const float *x_in, int n, const int *ids, int64_t h, int64_t w,
                     float timestep, float *out) {
    const tensor *first = ids[0] == 0 ? e->cond : e->uncond;
    int64_t L = first->ne[1], dim = first->ne[2];
    int rc = -1;
    tensor *x = tensor_view(DT_F32, 4, (int64_t[]){n, 4, h, w}, (void *)x_in);
    tensor *o = tensor_view(DT_F32, 4, (int64_t[]){n, 4, h, w}, out);
    tensor *t = tensor_new(DT_F32, 1, (int64_t[]){n});
    tensor *c = tensor_new(DT_F32, 3, (int64_t[]){n, L, dim});
    if (x && o && t && c) {
        for (int b = 0; b < n; b++) {
            ((float *)t->data)[b] = timestep;
            const tensor *src = ids[b] == 0 ? e->cond : e->uncond;
            memcpy((float *)c->data + b * L * dim, src->data, (size_t)(L * dim) * sizeof(float));
        }
        rc = unet_forward(e->u, x, t, c, NULL, o, e->err, sizeof e->err);
        for (int64_t i = 0; !rc && e->eps_error != 0 && i < n * 4 * h * w; i++) {
            e->lcg = e->lcg * 1664525u + 1013904223u;
            out[i] *= (float)(1.0 + e->eps_error * ((double)(e->lcg >> 8) / 8388608.0 - 1.0));
        }
    }
    tensor_free(x);
    tensor_free(o);
    tensor_free(t);
    tensor_free(c);
    return rc;
}

/* cfg_eps_fn. Prompts of different token counts cannot share a batch; then each run
 * of items with the same context is its own call (ComfyUI would repeat the shorter
 * context instead; the numbers are the same). */
static int unet_eps(void *ctx, const float *x_in, int nbatch, const int *ids, int64_t h, int64_t w,
                    float timestep, float *out) {
    eps_ctx *e = ctx;
    int64_t per = 4 * h * w;
    if (e->uncond->ne[1] == e->cond->ne[1]) return unet_call(e, x_in, nbatch, ids, h, w, timestep, out);
    for (int b = 0; b < nbatch;) {
        int run = 1;
        while (b + run < nbatch && ids[b + run] == ids[b]) run++;
        if (unet_call(e, x_in + b * per, run, ids + b, h, w, timestep, out + b * per)) return -1;
        b += run;
    }
    return 0;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int on_step(void *ctx, int step, int total, const float *x, const float *den) {
    (void)x;
    (void)den;
    fprintf(stderr, "step %d/%d  %.2f s\n", step + 1, total, now() - *(double *)ctx);
    return 0;
}

typedef struct opts {
    const char *ckpt, *tok_dir, *prompt, *negative, *sampler, *scheduler, *out, *latent_out;
    unsigned long long seed;
    int steps, size, batch;
    double cfg, denoise, eps_error;
} opts;

static int parse(int argc, char **argv, opts *o) {
    *o = (opts){"build/sd15-synth.safetensors", "../shared/tokenizer/sd1",
                "a photograph of an astronaut riding a horse", "text, watermark", "euler",
                "normal", "txt2img.png", NULL, 42, 4, 64, 1, 7.0, 1.0, 0.0};
    static const struct option lo[] = {
        {"ckpt", 1, 0, 'c'}, {"tokenizer-dir", 1, 0, 'k'}, {"prompt", 1, 0, 'p'},
        {"negative", 1, 0, 'n'}, {"seed", 1, 0, 's'}, {"steps", 1, 0, 't'}, {"cfg", 1, 0, 'g'},
        {"sampler", 1, 0, 'a'}, {"scheduler", 1, 0, 'h'}, {"denoise", 1, 0, 'd'},
        {"size", 1, 0, 'z'}, {"batch", 1, 0, 'b'}, {"out", 1, 0, 'o'}, {"latent-out", 1, 0, 'l'},
        {"eps-error", 1, 0, 'e'}, {0, 0, 0, 0}};
    for (int c; (c = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
        switch (c) {
        case 'c': o->ckpt = optarg; break;
        case 'k': o->tok_dir = optarg; break;
        case 'p': o->prompt = optarg; break;
        case 'n': o->negative = optarg; break;
        case 's': o->seed = strtoull(optarg, NULL, 10); break;
        case 't': o->steps = atoi(optarg); break;
        case 'g': o->cfg = atof(optarg); break;
        case 'a': o->sampler = optarg; break;
        case 'h': o->scheduler = optarg; break;
        case 'd': o->denoise = atof(optarg); break;
        case 'z': o->size = atoi(optarg); break;
        case 'b': o->batch = atoi(optarg); break;
        case 'o': o->out = optarg; break;
        case 'l': o->latent_out = optarg; break;
        case 'e': o->eps_error = atof(optarg); break;
        default: return -1;
        }
    }
    return o->steps >= 1 && o->size >= 64 && o->size % 8 == 0 && o->batch >= 1 ? 0 : -1;
}

static int save_png(const tensor *img, const char *path, char *err, size_t errlen) {
    int64_t B = img->ne[0], H = img->ne[1], W = img->ne[2], n = H * W * 3;
    img8 im = {(int)W, (int)(H * B), 3, malloc((size_t)(n * B))};   /* batch stacked vertically */
    if (!im.px) return -1;
    const float *s = img->data;
    for (int64_t i = 0; i < n * B; i++) {
        float v = 255.0f * s[i];
        im.px[i] = (unsigned char)(v > 255.0f ? 255.0f : v > 0.0f ? v : 0.0f);
    }
    int rc = png_write_file(path, &im, NULL, 0, 4, err, errlen);
    free(im.px);
    return rc;
}

int main(int argc, char **argv) {
    opts o;
    if (parse(argc, argv, &o)) {
        fprintf(stderr, "usage: txt2img [--ckpt FILE] [--tokenizer-dir DIR] [--prompt TEXT] "
                "[--negative TEXT] [--seed N] [--steps N] [--cfg X] [--sampler NAME] "
                "[--scheduler NAME] [--denoise X] [--size PX] [--batch N] [--out FILE.png] "
                "[--latent-out FILE] [--eps-error REL]\n");
        return 2;
    }
    const smp_sampler *sampler = smp_lookup(o.sampler);
    int sched = sched_lookup(o.scheduler);
    if (!sampler || !sampler->fn || sched < 0) {
        fprintf(stderr, "txt2img: %s '%s'\n", !sampler || !sampler->fn ? "unsupported sampler" :
                "unknown scheduler", !sampler || !sampler->fn ? o.sampler : o.scheduler);
        return 2;
    }
    char err[512];
    char *cerr = NULL;
    backend_config bc = {.accel = ACCEL_CPU, .opt = OPT_O1, .prec = PREC_FP32};
    if (backend_init(&bc, err, sizeof err)) { fprintf(stderr, "txt2img: %s\n", err); return 1; }
    double t0 = now();
    ckpt *ck = ckpt_open(o.ckpt, &cerr);
    tokenizer *tok = ck ? tokenizer_load(o.tok_dir, err, sizeof err) : NULL;
    clip_model *clip = tok ? clip_load(ck, CLIP_SD1_PREFIX, tok, &cerr) : NULL;
    model_config mcfg;
    vae_config vcfg = vae_config_sd();
    unet *u = clip && model_detect(ck, &mcfg, err, sizeof err) == 0
                  ? unet_load(ck, mcfg.unet_prefix, &mcfg.unet, err, sizeof err) : NULL;
    vae *v = u ? vae_load(ck, "first_stage_model.", &vcfg, err, sizeof err) : NULL;
    tensor *cond = NULL, *uncond = NULL, *pooled = NULL, *latent = NULL, *image = NULL;
    int rc = 1;
    if (!v) { fprintf(stderr, "txt2img: load: %s\n", cerr ? cerr : err); goto done; }
    double t1 = now();
    if (clip_encode(clip, o.prompt, -1, &cond, &pooled, &cerr)) goto clip_failed;
    tensor_free(pooled);
    pooled = NULL;
    if (clip_encode(clip, o.negative, -1, &uncond, &pooled, &cerr)) goto clip_failed;
    double t2 = now();

    model_sampling ms;
    ms_init_sd15(&ms);
    int64_t h = o.size / 8, per = 4 * h * h;
    eps_ctx ec = {u, cond, uncond, o.eps_error, 12345, ""};
    const cfg_cond pos = cfg_cond_full(0), neg = cfg_cond_full(1);
    cfg_guider *g = cfg_new(&ms, unet_eps, &ec, &pos, 1, &neg, 1, o.batch, 4, h, h, o.cfg);
    latent = tensor_new(DT_F32, 4, (int64_t[]){o.batch, 4, h, h});
    float *zeros = calloc((size_t)(o.batch * per), sizeof(float));
    if (!latent || !zeros || !g) {
        cfg_free(g);
        free(zeros);
        fprintf(stderr, "txt2img: out of memory\n");
        goto done;
    }
    ks_params p = {.ms = &ms, .sampler = sampler, .scheduler = sched, .steps = o.steps,
                   .seed = o.seed};
    ks_params_default(&p);
    p.denoise = o.denoise;
    ks_latent in = {o.batch, per, zeros, NULL, NULL};   /* EmptyLatentImage */
    int src = ks_sample(&p, &in, cfg_denoise, g, on_step, &t2, latent->data);
    cfg_free(g);
    free(zeros);
    double t3 = now();
    if (src != SMP_OK) {
        fprintf(stderr, "txt2img: sampling: %s%s%s\n", smp_strerror(src), ec.err[0] ? ": " : "", ec.err);
        goto done;
    }
    if (o.latent_out) {
        FILE *f = fopen(o.latent_out, "wb");
        size_t nw = f ? fwrite(latent->data, sizeof(float), (size_t)(o.batch * per), f) : 0;
        if (!f || fclose(f) || nw != (size_t)(o.batch * per)) {
            fprintf(stderr, "txt2img: cannot write %s\n", o.latent_out);
            goto done;
        }
    }
    image = vae_decode(v, latent, err, sizeof err);
    double t4 = now();
    if (!image || save_png(image, o.out, err, sizeof err)) {
        fprintf(stderr, "txt2img: decode/save: %s\n", err);
        goto done;
    }
    printf("%s: %s/%s seed %llu, %d steps, cfg %g, %dx%d: load %.1f s, clip %.2f s, "
           "sampling %.2f s, decode %.2f s\n", o.out, o.sampler, o.scheduler, o.seed, o.steps,
           o.cfg, o.size, o.size, t1 - t0, t2 - t1, t3 - t2, t4 - t3);
    rc = 0;
    goto done;
clip_failed:
    fprintf(stderr, "txt2img: clip: %s\n", cerr);
done:
    free(cerr);
    tensor_free(cond);
    tensor_free(uncond);
    tensor_free(pooled);
    tensor_free(latent);
    tensor_free(image);
    vae_free(v);
    unet_free(u);
    clip_free(clip);
    tokenizer_free(tok);
    ckpt_close(ck);
    return rc;
}
