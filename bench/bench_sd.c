/* bench_sd.c -- `--sd-only`: Stable Diffusion 1.5 end to end, the figures users feel.
 *
 * One checkpoint (the synthetic SD1.5 file by default) is loaded once; then, in the
 * order a fresh process meets them:
 *   jit_s          --jit only: the daemon's warm-up: CLIP, one UNet call at the target
 *                  shape and one decode run in plan mode (tensor/ops.h), which executes
 *                  no kernel but creates and caches every primitive and prepares every
 *                  weight (layout, dtype, int8 quantization) before the first step
 *   first_image_s  the first full picture (CLIP x2, `steps` euler steps with CFG, decode),
 *                  i.e. with (no --jit) or without (--jit) primitive creation inside it;
 *                  first_image_jit_s = jit_s + first_image_s is what --jit costs in all;
 *                  first_image_primitives: how many primitives it created (0 after --jit)
 *   unet_step_s    median UNet call with the CFG batch (2 x batch items); unet_<kind>_s
 *                  split one call by kernel kind (tensor/optime.h), unet_glue_s the rest
 *   clip_s, vae_decode_s, image_s (the second picture), images_per_s = batch / image_s
 * plus GFLOPS of the UNet step (flops.h counts the work the ops issued) against the ISA's
 * peak, energy from RAPL where readable, memory (peak RSS, weights, prepared copies and
 * arena blocks as the allocator counts them, the models' activation peaks) and, with --accuracy, the error against fp32 at O0 (the reference):
 * max |error| of one UNet call relative to its max |output| and the PSNR of the picture.
 * Everything lands in one "sd" object that bench/torch_sd15.py reads.
 */
#include "bench.h"
#include "backend/backend.h"
#include "io/ckpt.h"
#include "io/detect.h"
#include "models/clip_model.h"
#include "models/unet.h"
#include "models/vae.h"
#include "sampling/cfg.h"
#include "sampling/ksampler.h"
#include "tensor/flops.h"
#include "tensor/ops.h"
#include "tensor/optime.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define SD_PROMPT "a photograph of an astronaut riding a horse"
#define SD_NEGATIVE "text, watermark"
#define SD_SEED 42
#define SD_CFG 7.0

typedef struct sd_run {
    const bench_opts *o;
    unet *u;
    vae *v;
    clip_model *clip;
    tensor *cond, *uncond;    /* (1, 77, 768) each */
    int64_t h, w;             /* latent size */
    char err[512];
} sd_run;

/* cfg_eps_fn: conditioning id 0 is the positive prompt, 1 the negative. */
static int sd_eps(void *ctx, const float *x_in, int n, const int *ids, int64_t h, int64_t w,
                  float timestep, float *out) {
    sd_run *r = ctx;
    int64_t L = r->cond->ne[1], D = r->cond->ne[2];
    tensor *x = tensor_view(DT_F32, 4, (int64_t[]){n, 4, h, w}, (void *)x_in);
    tensor *y = tensor_view(DT_F32, 4, (int64_t[]){n, 4, h, w}, out);
    tensor *t = tensor_new(DT_F32, 1, (int64_t[]){n});
    tensor *c = tensor_new(DT_F32, 3, (int64_t[]){n, L, D});
    int rc = -1;
    if (x && y && t && c) {
        for (int b = 0; b < n; b++) {
            ((float *)t->data)[b] = timestep;
            const tensor *src = ids[b] == 0 ? r->cond : r->uncond;
            memcpy((float *)c->data + b * L * D, src->data, (size_t)(L * D) * sizeof(float));
        }
        rc = unet_forward(r->u, x, t, c, NULL, y, r->err, sizeof r->err);
    }
    tensor_free(x);
    tensor_free(y);
    tensor_free(t);
    tensor_free(c);
    return rc;
}

static int sd_clip(sd_run *r) {
    char *err = NULL;
    tensor *pooled = NULL;
    tensor_free(r->cond);
    tensor_free(r->uncond);
    r->cond = r->uncond = NULL;
    int rc = clip_encode(r->clip, SD_PROMPT, -1, &r->cond, &pooled, &err);
    tensor_free(pooled);
    pooled = NULL;
    if (!rc) rc = clip_encode(r->clip, SD_NEGATIVE, -1, &r->uncond, &pooled, &err);
    tensor_free(pooled);
    if (rc) snprintf(r->err, sizeof r->err, "clip: %s", err ? err : "failed");
    free(err);
    return rc;
}

/* The whole picture: CLIP, KSampler (euler, normal, CFG), VAE decode. Heap image. */
static tensor *sd_image(sd_run *r) {
    if (sd_clip(r)) return NULL;
    model_sampling ms;
    ms_init_sd15(&ms);
    int64_t per = 4 * r->h * r->w;
    int B = r->o->batch;
    tensor *latent = tensor_new(DT_F32, 4, (int64_t[]){B, 4, r->h, r->w});
    float *zeros = calloc((size_t)(B * per), sizeof(float));
    cfg_cond pos = cfg_cond_full(0), neg = cfg_cond_full(1);
    cfg_guider *g = cfg_new(&ms, sd_eps, r, &pos, 1, &neg, 1, B, 4, r->h, r->w, SD_CFG);
    if (!latent || !zeros || !g) {
        cfg_free(g);
        free(zeros);
        tensor_free(latent);
        snprintf(r->err, sizeof r->err, "out of memory");
        return NULL;
    }
    ks_params p = {.ms = &ms, .sampler = smp_lookup("euler"), .scheduler = sched_lookup("normal"),
                   .steps = r->o->steps, .seed = SD_SEED};
    ks_params_default(&p);
    ks_latent in = {B, per, zeros, NULL, NULL};
    int src = ks_sample(&p, &in, cfg_denoise, g, NULL, NULL, latent->data);
    cfg_free(g);
    free(zeros);
    tensor *img = NULL;
    if (src != SMP_OK && !r->err[0]) snprintf(r->err, sizeof r->err, "%s", smp_strerror(src));
    if (src == SMP_OK) img = vae_decode(r->v, latent, r->err, sizeof r->err);
    tensor_free(latent);
    return img;
}

/* The fixed UNet input of the step benchmark: x ~ noise-like ramp, t = 999. */
static tensor *sd_step_input(const sd_run *r, int n) {
    tensor *x = tensor_new(DT_F32, 4, (int64_t[]){n, 4, r->h, r->w});
    for (int64_t i = 0; x && i < tensor_numel(x); i++)
        ((float *)x->data)[i] = (float)sin(0.37 * (double)i) * 14.6f;
    return x;
}

/* The CFG batch: the first half positive, the second negative. */
static int sd_step(sd_run *r, const tensor *x, tensor *out) {
    int n = (int)x->ne[0], ids[2 * 64];
    for (int b = 0; b < n; b++) ids[b] = b >= n / 2;
    return sd_eps(r, x->data, n, ids, r->h, r->w, 999.0f, out->data);
}

static int sd_decode(sd_run *r) {
    tensor *z = tensor_new(DT_F32, 4, (int64_t[]){1, 4, r->h, r->w});
    tensor *img = z ? vae_decode(r->v, z, r->err, sizeof r->err) : NULL;
    tensor_free(z);
    tensor_free(img);
    return img ? 0 : -1;
}

/* --jit: every primitive of the target shapes created, every weight prepared, nothing
 * executed. The planned prompts' contexts are garbage: dropped, for the picture to make. */
static int sd_jit(sd_run *r) {
    tensor *x = tensor_new(DT_F32, 4, (int64_t[]){2 * r->o->batch, 4, r->h, r->w});
    tensor *y = x ? tensor_new(DT_F32, 4, x->ne) : NULL;
    int was = ops_plan_set(1);
    int rc = y && !sd_clip(r) && !sd_step(r, x, y) && !sd_decode(r) ? 0 : -1;
    ops_plan_set(was);
    tensor_free(r->cond);
    tensor_free(r->uncond);
    r->cond = r->uncond = NULL;
    tensor_free(x);
    tensor_free(y);
    return rc;
}

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static int sd_load(sd_run *r, ckpt **ck, tokenizer **tok) {
    char *cerr = NULL;
    model_config mc;
    vae_config vc = vae_config_sd();
    *ck = ckpt_open(r->o->ckpt, &cerr);
    *tok = *ck ? tokenizer_load(r->o->tok_dir, r->err, sizeof r->err) : NULL;
    r->clip = *tok ? clip_load(*ck, CLIP_SD1_PREFIX, *tok, &cerr) : NULL;
    if (r->clip && model_detect(*ck, &mc, r->err, sizeof r->err) == 0)
        r->u = unet_load(*ck, mc.unet_prefix, &mc.unet, r->err, sizeof r->err);
    if (r->u) r->v = vae_load(*ck, "first_stage_model.", &vc, r->err, sizeof r->err);
    if (cerr) snprintf(r->err, sizeof r->err, "%s", cerr);
    free(cerr);
    return r->v ? 0 : -1;
}

typedef struct sd_times {
    double load, jit, first_image, unet_step, clip, vae_decode, image, step_gflop;
    double step_cpu, first_image_cpu, image_cpu;   /* process CPU seconds: steadier on a
                                                      shared host */
    double first_image_prims;   /* primitives created inside the first picture: 0 with --jit */
    double step_joules, image_joules;
    double step_kernel[OT_KINDS];   /* one call's seconds per kernel kind (optime.h) */
} sd_times;

static double sd_time_step(sd_run *r, const tensor *x, tensor *y, double *gflop, double *joules,
                           double *cpu, double *kernel) {
    int n = r->o->min_iters > 1 ? r->o->min_iters : 1;
    double times[16], f0 = 0, e0 = bench_energy_j(), c0 = bench_cpu_s(), k0[OT_KINDS];
    if (n > 16) n = 16;
    for (int k = 0; k < n; k++) {
        f0 = flops_total();   /* one call's work and kernel times: the last call's */
        optime_read(k0);
        double t0 = bench_now_s();
        if (sd_step(r, x, y)) return -1;
        times[k] = bench_now_s() - t0;
    }
    *gflop = (flops_total() - f0) / 1e9;
    optime_read(kernel);
    for (int k = 0; k < OT_KINDS; k++) kernel[k] -= k0[k];
    *cpu = (bench_cpu_s() - c0) / n;
    double e1 = bench_energy_j();
    *joules = e0 >= 0 && e1 >= e0 ? (e1 - e0) / n : -1;
    qsort(times, (size_t)n, sizeof times[0], bench_cmp_double);
    return times[n / 2];
}

/* One line per finished phase on stderr (stdout may be JSON); BENCH_QUIET silences it. */
static void sd_progress(const char *what, double seconds) {
    if (!getenv("BENCH_QUIET")) fprintf(stderr, "  sd %-14s %8.2f s\n", what, seconds);
}

static int sd_measure(sd_run *r, sd_times *t, tensor **image, tensor *step_out) {
    const bench_opts *o = r->o;
    double t0 = bench_now_s();
    if (o->jit && sd_jit(r)) return -1;
    t->jit = o->jit ? bench_now_s() - t0 : 0;
    if (o->jit) sd_progress("jit", t->jit);
    tensor *x = sd_step_input(r, 2 * o->batch);
    if (!x) return -1;
    if (!o->skip_full) {
        t0 = bench_now_s();
        double c0 = bench_cpu_s();
        uint64_t made = ops_primitives_created();
        if (!(*image = sd_image(r))) goto fail;
        t->first_image = bench_now_s() - t0;
        t->first_image_cpu = bench_cpu_s() - c0;
        t->first_image_prims = (double)(ops_primitives_created() - made);
        sd_progress("first image", t->first_image);
    }
    /* The step needs the prompts' contexts (made already by a picture or --jit), and one
     * untimed call for first-use costs. */
    if ((!r->cond && sd_clip(r)) || sd_step(r, x, step_out)) goto fail;
    if ((t->unet_step = sd_time_step(r, x, step_out, &t->step_gflop, &t->step_joules,
                                     &t->step_cpu, t->step_kernel)) < 0)
        goto fail;
    sd_progress("unet step", t->unet_step);
    t0 = bench_now_s();
    if (sd_clip(r)) goto fail;
    t->clip = bench_now_s() - t0;
    if (sd_decode(r)) goto fail;
    t0 = bench_now_s();
    if (sd_decode(r)) goto fail;
    t->vae_decode = bench_now_s() - t0;
    sd_progress("vae decode", t->vae_decode);
    if (!o->skip_full) {
        double e0 = bench_energy_j(), c0 = bench_cpu_s();
        t0 = bench_now_s();
        tensor *again = sd_image(r);
        t->image = bench_now_s() - t0;
        t->image_cpu = bench_cpu_s() - c0;
        sd_progress("image", t->image);
        double e1 = bench_energy_j();
        t->image_joules = e0 >= 0 && e1 >= e0 ? e1 - e0 : -1;
        if (!again) goto fail;
        tensor_free(again);
    }
    tensor_free(x);
    return 0;
fail:
    tensor_free(x);
    return -1;
}

/* max |a - b| / max |b|, and PSNR over [0, 1] pixels. */
static double rel_max_err(const tensor *a, const tensor *b) {
    double e = 0, m = 0;
    for (int64_t i = 0; i < tensor_numel(b); i++) {
        double x = ((float *)a->data)[i], y = ((float *)b->data)[i];
        e = fmax(e, fabs(x - y));
        m = fmax(m, fabs(y));
    }
    return m > 0 ? e / m : e;
}

static double psnr(const tensor *a, const tensor *b) {
    double se = 0;
    int64_t n = tensor_numel(b);
    for (int64_t i = 0; i < n; i++) {
        double d = ((float *)a->data)[i] - ((float *)b->data)[i];
        se += d * d;
    }
    return se > 0 ? 10.0 * log10((double)n / se) : INFINITY;
}

/* The reference's own UNet and VAE, bound at the current (fp32) precision: models bind
 * their weights in the compute dtype, so those of a bf16 run are rounded already. */
static int sd_reference_models(sd_run *r, unet **u, vae **v) {
    char *cerr = NULL;
    model_config mc;
    vae_config vc = vae_config_sd();
    ckpt *ck = ckpt_open(r->o->ckpt, &cerr);
    *u = ck && model_detect(ck, &mc, r->err, sizeof r->err) == 0
             ? unet_load(ck, mc.unet_prefix, &mc.unet, r->err, sizeof r->err) : NULL;
    *v = *u ? vae_load(ck, "first_stage_model.", &vc, r->err, sizeof r->err) : NULL;
    if (cerr) snprintf(r->err, sizeof r->err, "%s", cerr);
    free(cerr);
    ckpt_close(ck);
    return *v ? 0 : -1;
}

/* --accuracy: the same UNet call and picture at fp32 O0 (the reference path). */
static int sd_accuracy(sd_run *r, const tensor *step_out, const tensor *image, cJSON *sd) {
    bench_opts ref = *r->o;
    ref.opt = OPT_O0;
    bench_use_precision(&ref, PREC_FP32);
    unet *u = r->u;
    vae *v = r->v;
    tensor *x = sd_step_input(r, 2 * r->o->batch), *y = x ? tensor_new(DT_F32, 4, x->ne) : NULL;
    int rc = y && !sd_reference_models(r, &r->u, &r->v) && !sd_step(r, x, y) ? 0 : -1;
    if (!rc) cJSON_AddNumberToObject(sd, "unet_rel_max_err", rel_max_err(step_out, y));
    if (!rc && image) {
        tensor *img = sd_image(r);
        if (img) {
            double p = psnr(image, img);
            cJSON_AddNumberToObject(sd, "image_psnr_db", isinf(p) ? 999.0 : p);
        }
        rc = img ? 0 : -1;
        tensor_free(img);
    }
    tensor_free(x);
    tensor_free(y);
    if (r->u != u) unet_free(r->u);
    if (r->v != v) vae_free(r->v);
    r->u = u;
    r->v = v;
    bench_use_precision(r->o, r->o->prec);
    return rc;
}

static void sd_report(const sd_run *r, const sd_times *t, double peak_gflops) {
    const bench_opts *o = r->o;
    cJSON *sd = bench_sd_object();
    cJSON_AddNumberToObject(sd, "size", o->size);
    cJSON_AddNumberToObject(sd, "steps", o->steps);
    cJSON_AddNumberToObject(sd, "batch", o->batch);
    cJSON_AddNumberToObject(sd, "cfg_batch", 2 * o->batch);
    cJSON_AddBoolToObject(sd, "jit", o->jit);
    cJSON_AddNumberToObject(sd, "load_s", t->load);
    if (o->jit) cJSON_AddNumberToObject(sd, "jit_s", t->jit);
    cJSON_AddNumberToObject(sd, "unet_step_s", t->unet_step);
    cJSON_AddNumberToObject(sd, "unet_step_cpu_s", t->step_cpu);
    cJSON_AddNumberToObject(sd, "unet_step_gflop", t->step_gflop);
    /* Where one step's time went; glue: the rest, between the kernels (of the last call,
     * so it can differ from the median step by that call's spread). */
    double kernels = 0;
    for (int k = 0; k < OT_KINDS; k++) {
        char key[64];
        snprintf(key, sizeof key, "unet_%s_s", optime_name((optime_kind)k));
        cJSON_AddNumberToObject(sd, key, t->step_kernel[k]);
        kernels += t->step_kernel[k];
    }
    cJSON_AddNumberToObject(sd, "unet_glue_s", t->unet_step - kernels);
    double gf = t->unet_step > 0 ? t->step_gflop / t->unet_step : 0;
    cJSON_AddNumberToObject(sd, "unet_gflops", gf);
    cJSON_AddNumberToObject(sd, "isa_peak_gflops", peak_gflops);
    cJSON_AddNumberToObject(sd, "unet_peak_fraction", peak_gflops > 0 ? gf / peak_gflops : 0);
    cJSON_AddNumberToObject(sd, "clip_s", t->clip);
    cJSON_AddNumberToObject(sd, "vae_decode_s", t->vae_decode);
    if (!o->skip_full) {
        cJSON_AddNumberToObject(sd, "first_image_s", t->first_image);
        if (o->jit) cJSON_AddNumberToObject(sd, "first_image_jit_s", t->jit + t->first_image);
        cJSON_AddNumberToObject(sd, "first_image_primitives", t->first_image_prims);
        cJSON_AddNumberToObject(sd, "image_s", t->image);
        cJSON_AddNumberToObject(sd, "first_image_cpu_s", t->first_image_cpu);
        cJSON_AddNumberToObject(sd, "image_cpu_s", t->image_cpu);
        cJSON_AddNumberToObject(sd, "images_per_s", t->image > 0 ? o->batch / t->image : 0);
    }
    if (t->step_joules >= 0) cJSON_AddNumberToObject(sd, "unet_step_j", t->step_joules);
    if (!o->skip_full && t->image_joules >= 0) cJSON_AddNumberToObject(sd, "image_j", t->image_joules);
    cJSON_AddNumberToObject(sd, "peak_rss_mb", peak_rss_mb());
    cJSON_AddNumberToObject(sd, "unet_vae_weights_mb", (double)(unet_weight_bytes(r->u) + vae_weight_bytes(r->v)) / 1048576.0);
    cJSON_AddNumberToObject(sd, "allocator_mb", (double)backend_bytes_reserved() / 1048576.0);
    cJSON_AddNumberToObject(sd, "unet_arena_mb", (double)unet_activation_peak(r->u) / 1048576.0);
    cJSON_AddNumberToObject(sd, "vae_arena_mb", (double)vae_activation_peak(r->v) / 1048576.0);
}

int bench_section_sd(const bench_opts *o) {
    const char *dt = bench_use_precision(o, o->prec);
    sd_run r = {.o = o, .h = o->size / 8, .w = o->size / 8};
    sd_times t = {0};
    ckpt *ck = NULL;
    tokenizer *tok = NULL;
    tensor *image = NULL, *step_out = tensor_new(DT_F32, 4, (int64_t[]){2 * o->batch, 4, r.h, r.w});
    double t0 = bench_now_s();
    int rc = step_out ? sd_load(&r, &ck, &tok) : -1;
    ckpt_close(ck);   /* weights are copied: the mapping would only inflate RSS */
    ck = NULL;
    t.load = bench_now_s() - t0;
    if (!rc) sd_progress("load", t.load);
    if (!rc) rc = sd_measure(&r, &t, &image, step_out);
    if (!rc) {
        cJSON *sd = bench_sd_object();
        cJSON_AddStringToObject(sd, "precision", dt);
        sd_report(&r, &t, bench_peak_gflops(dt));
        if (o->accuracy) rc = sd_accuracy(&r, step_out, image, sd);
    }
    if (rc) fprintf(stderr, "ipex-benchmark: sd: %s\n", r.err[0] ? r.err : "failed");
    tensor_free(image);
    tensor_free(step_out);
    tensor_free(r.cond);
    tensor_free(r.uncond);
    vae_free(r.v);
    unet_free(r.u);
    clip_free(r.clip);
    tokenizer_free(tok);
    return rc;
}
