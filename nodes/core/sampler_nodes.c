/* sampler_nodes.c -- KSampler and KSamplerAdvanced.
 *
 * sampling/ does the arithmetic (sigmas, noise, sampler, inpainting blend, CFG); this
 * file is the model function under it: for the positive and the negative half of the
 * guider's batch, every conditioning entry runs the UNet on its area of x, its output
 * is weighted by the entry's strength (feathered over 8 latent cells at area edges
 * inside the frame, as ComfyUI's get_area_and_mult), and each half is the weighted
 * sum divided by the summed weights (initialised to 1e-37), which for one full-frame
 * entry is that entry's output exactly. The common case (one full-frame entry each,
 * same token count) runs cond and uncond as one batch of 2B, as ComfyUI does.
 */
#include "sd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampling/cfg.h"
#include "sampling/ksampler.h"

typedef struct guide_ctx {
    unet *u;
    const sd_cond *half[2];    /* positive, negative */
    int64_t batch, h, w;       /* latent (batch, 4, h, w) */
    char err[512];
} guide_ctx;

#define LATENT_C 4

/* One UNet call on n items of (4, ah, aw): item i takes ctx[i]'s tokens. */
static int unet_run(guide_ctx *g, const float *x, int64_t n, int64_t ah, int64_t aw, float timestep,
                    const tensor *const *ctx, float *out) {
    int64_t L = ctx[0]->ne[1], D = ctx[0]->ne[2];
    tensor *xt = tensor_view(DT_F32, 4, (int64_t[]){n, LATENT_C, ah, aw}, (void *)x);
    tensor *ot = tensor_view(DT_F32, 4, (int64_t[]){n, LATENT_C, ah, aw}, out);
    tensor *t = tensor_new(DT_F32, 1, (int64_t[]){n});
    tensor *c = tensor_new(DT_F32, 3, (int64_t[]){n, L, D});
    int rc = -1;
    if (xt && ot && t && c) {
        for (int64_t i = 0; i < n; i++) {
            ((float *)t->data)[i] = timestep;
            memcpy((float *)c->data + i * L * D, ctx[i]->data, (size_t)(L * D) * sizeof(float));
        }
        rc = unet_forward(g->u, xt, t, c, NULL, ot, g->err, sizeof g->err);
    } else {
        snprintf(g->err, sizeof g->err, "out of memory");
    }
    tensor_free(xt);
    tensor_free(ot);
    tensor_free(t);
    tensor_free(c);
    return rc;
}

/* The entry's area clamped to the frame (ComfyUI: size = min(frame - offset, size)). */
static void entry_area(const guide_ctx *g, const sd_cond_entry *e, int64_t a[4]) {
    if (!e->has_area) {
        a[0] = g->h, a[1] = g->w, a[2] = 0, a[3] = 0;
        return;
    }
    memcpy(a, e->area, 4 * sizeof *a);
    if (a[0] > g->h - a[2]) a[0] = g->h - a[2];
    if (a[1] > g->w - a[3]) a[1] = g->w - a[3];
}

/* Weight of each cell of an area: strength, feathered at edges that lie inside the frame. */
static void area_mult(const guide_ctx *g, const sd_cond_entry *e, const int64_t a[4], float *m) {
    for (int64_t i = 0; i < a[0] * a[1]; i++) m[i] = e->strength;
    if (!e->has_area) return;
    int64_t full[2] = {g->h, g->w};
    for (int d = 0; d < 2; d++) {
        int64_t size = a[d], off = a[2 + d], rr = size / 4 < 8 ? size / 4 : 8;
        for (int64_t t = 0; t < rr; t++) {
            float f = (float)((1.0 / (double)rr) * (double)(t + 1));
            int64_t lines[2] = {off != 0 ? t : -1, size + off < full[d] ? size - 1 - t : -1};
            for (int k = 0; k < 2; k++) {
                if (lines[k] < 0) continue;
                if (d == 0) for (int64_t x = 0; x < a[1]; x++) m[lines[k] * a[1] + x] *= f;
                else for (int64_t y = 0; y < a[0]; y++) m[y * a[1] + lines[k]] *= f;
            }
        }
    }
}

/* One half of the batch: out = sum(model(x[area]) * mult) / sum(mult). */
static int half_eps(guide_ctx *g, const sd_cond *cond, const float *x, float timestep, float *out) {
    int64_t B = g->batch, hw = g->h * g->w, per = LATENT_C * hw;
    float *count = malloc((size_t)hw * sizeof *count);
    float *acc = calloc((size_t)(B * per), sizeof *acc);
    float *xa = malloc((size_t)(B * per) * sizeof *xa), *ea = malloc((size_t)(B * per) * sizeof *ea);
    float *m = malloc((size_t)hw * sizeof *m);
    const tensor **ctx = malloc((size_t)B * sizeof *ctx);
    int rc = count && acc && xa && ea && m && ctx ? 0 : -1;
    if (rc) snprintf(g->err, sizeof g->err, "out of memory");
    for (int64_t i = 0; !rc && i < hw; i++) count[i] = 1e-37f;
    for (int k = 0; !rc && k < cond->n; k++) {
        const sd_cond_entry *e = &cond->e[k];
        int64_t a[4];
        entry_area(g, e, a);
        if (a[0] <= 0 || a[1] <= 0) continue;
        for (int64_t p = 0; p < B * LATENT_C; p++)
            for (int64_t y = 0; y < a[0]; y++)
                memcpy(xa + (p * a[0] + y) * a[1], x + p * hw + (a[2] + y) * g->w + a[3],
                       (size_t)a[1] * sizeof *xa);
        for (int64_t b = 0; b < B; b++) ctx[b] = e->cond;
        if ((rc = unet_run(g, xa, B, a[0], a[1], timestep, ctx, ea))) break;
        area_mult(g, e, a, m);
        for (int64_t p = 0; p < B * LATENT_C; p++)
            for (int64_t y = 0; y < a[0]; y++)
                for (int64_t xx = 0; xx < a[1]; xx++)
                    acc[p * hw + (a[2] + y) * g->w + a[3] + xx] += ea[(p * a[0] + y) * a[1] + xx] * m[y * a[1] + xx];
        for (int64_t y = 0; y < a[0]; y++)
            for (int64_t xx = 0; xx < a[1]; xx++) count[(a[2] + y) * g->w + a[3] + xx] += m[y * a[1] + xx];
    }
    for (int64_t i = 0; !rc && i < B * per; i++) out[i] = acc[i] / count[i % hw];
    free(count);
    free(acc);
    free(xa);
    free(ea);
    free(m);
    free(ctx);
    return rc;
}

static int plain(const sd_cond *c) { return c->n == 1 && !c->e[0].has_area && c->e[0].strength == 1.0f; }

/* cfg_eps_fn: items [0, B) positive, [B, 2B) negative. */
static int guide_eps(void *vctx, const float *x, int nbatch, float timestep, float *out) {
    guide_ctx *g = vctx;
    int64_t B = g->batch, per = LATENT_C * g->h * g->w;
    int halves = nbatch > B ? 2 : 1;
    if (plain(g->half[0]) && (halves == 1 || (plain(g->half[1]) &&
                                             g->half[0]->e[0].cond->ne[1] == g->half[1]->e[0].cond->ne[1]))) {
        const tensor **ctx = malloc((size_t)nbatch * sizeof *ctx);
        if (!ctx) return -1;
        for (int i = 0; i < nbatch; i++) ctx[i] = g->half[i < B ? 0 : 1]->e[0].cond;
        int rc = unet_run(g, x, nbatch, g->h, g->w, timestep, ctx, out);
        free(ctx);
        return rc;
    }
    for (int k = 0; k < halves; k++)
        if (half_eps(g, g->half[k], x + k * B * per, timestep, out + k * B * per)) return -1;
    return 0;
}

/* The latent's noise mask as ComfyUI's prepare_mask: bilinear to the latent size,
 * repeated over channels and tiled/cut to the batch. NULL (and msg) on failure. */
static float *noise_mask(const ci_latent *l, int64_t B, int64_t h, int64_t w, char *msg, size_t msglen) {
    const tensor *nm = l->noise_mask;
    int64_t n = nm->ndim >= 3 ? nm->ne[0] * (nm->ndim == 4 ? nm->ne[1] : 1) : 1;
    int64_t mh = nm->ne[nm->ndim - 2], mw = nm->ne[nm->ndim - 1];
    tensor *src = tensor_view(DT_F32, 4, (int64_t[]){n, 1, mh, mw}, nm->data);
    tensor *r = src ? core_upscale(src, w, h, "bilinear", "disabled", msg, msglen) : NULL;
    float *out = r ? malloc((size_t)(B * LATENT_C * h * w) * sizeof *out) : NULL;
    for (int64_t b = 0; out && b < B; b++)
        for (int64_t ch = 0; ch < LATENT_C; ch++)
            memcpy(out + (b * LATENT_C + ch) * h * w, (float *)r->data + (b % n) * h * w,
                   (size_t)(h * w) * sizeof *out);
    tensor_free(src);
    tensor_free(r);
    return out;
}

/* The combo lists are checked by validation, ComfyUI's way; this catches linked values
 * and any table entry without an implementation. */
static int check_names(const char *sampler, const char *scheduler, char *msg, size_t msglen) {
    const smp_sampler *s = sampler ? smp_lookup(sampler) : NULL;
    if (!s) return snprintf(msg, msglen, "Value not in list: sampler_name: '%s' not in the sampler list", sampler ? sampler : ""), -1;
    if (!s->fn) return snprintf(msg, msglen, "sampler '%s' is not implemented by comfyui-ipex", sampler), -1;
    if (!scheduler || sched_lookup(scheduler) < 0)
        return snprintf(msg, msglen, "Value not in list: scheduler: '%s' not in the scheduler list", scheduler ? scheduler : ""), -1;
    return 0;
}

static int sample(ci_call *c, ks_params *p, double cfg) {
    const sd_handle *mh = ci_get_object(c, "model", SD_TYPE_MODEL);
    const sd_cond *pos = ci_get_object(c, "positive", SD_TYPE_COND), *neg = ci_get_object(c, "negative", SD_TYPE_COND);
    const ci_latent *in = ci_get_object(c, "latent_image", CI_TYPE_LATENT);
    const char *sname = ci_get_string(c, "sampler_name"), *kname = ci_get_string(c, "scheduler");
    char msg[512];
    if (!mh || !pos || !neg || !in) return ci_fail(c, "TypeError", "KSampler: model, positive, negative or latent_image has the wrong type");
    if (check_names(sname, kname, msg, sizeof msg)) return ci_fail(c, "ValueError", "%s", msg);
    if (pos->n < 1 || neg->n < 1) return ci_fail(c, "ValueError", "empty conditioning");
    const tensor *s = in->samples;
    if (s->ndim != 4 || s->ne[1] != LATENT_C)
        return ci_fail(c, "RuntimeError", "the latent has %d channels, the model expects %d", (int)(s->ndim == 4 ? s->ne[1] : 0), LATENT_C);
    sd_checkpoint *ck = sd_of(mh);
    p->ms = &ck->ms;
    p->sampler = smp_lookup(sname);
    p->scheduler = (sched_kind)sched_lookup(kname);
    guide_ctx g = {ck->unet, {pos, neg}, s->ne[0], s->ne[2], s->ne[3], ""};
    int64_t per = LATENT_C * g.h * g.w;
    float *mask = in->noise_mask ? noise_mask(in, g.batch, g.h, g.w, msg, sizeof msg) : NULL;
    if (in->noise_mask && !mask) return ci_fail(c, "RuntimeError", "noise mask: %s", msg);
    ks_latent kl = {g.batch, per, s->data, in->n_batch_index == g.batch ? in->batch_index : NULL, mask};
    ci_latent *out = latent_copy(in);
    cfg_guider guider;
    if (!out || cfg_init(&guider, &ck->ms, guide_eps, &g, (int)g.batch, per, cfg)) {
        free(mask);
        latent_free(out);
        return ci_fail(c, "torch.OutOfMemoryError", "out of memory");
    }
    sd_step_ctx step = {c, g.batch, g.h, g.w};
    int rc = ks_sample(p, &kl, cfg_denoise, &guider, sd_on_step, &step, out->samples->data);
    cfg_free(&guider);
    free(mask);
    if (rc != SMP_OK) {
        latent_free(out);
        if (rc == SMP_INTERRUPTED) return ci_fail(c, "comfy.model_management.InterruptProcessingException", "interrupted");
        return ci_fail(c, "RuntimeError", "sampling: %s%s%s", smp_strerror(rc), g.err[0] ? ": " : "", g.err);
    }
    return set_latent(c, 0, out);
}

/* ---- KSampler ---- */

static int ksampler_run(ci_call *c) {
    ks_params p = {0};
    ks_params_default(&p);
    p.seed = ci_get_u64(c, "seed");
    p.steps = (int)ci_get_int(c, "steps");
    p.denoise = ci_get_float(c, "denoise");
    return sample(c, &p, ci_get_float(c, "cfg"));
}

#define SAMPLER_LIST "[\"euler\", \"euler_cfg_pp\", \"euler_ancestral\", \"euler_ancestral_cfg_pp\", \"heun\", \"heunpp2\", \"exp_heun_2_x0\", \"exp_heun_2_x0_sde\", \"dpm_2\", \"dpm_2_ancestral\", \"lms\", \"dpm_fast\", \"dpm_adaptive\", \"dpmpp_2s_ancestral\", \"dpmpp_2s_ancestral_cfg_pp\", \"dpmpp_sde\", \"dpmpp_sde_gpu\", \"dpmpp_2m\", \"dpmpp_2m_cfg_pp\", \"dpmpp_2m_sde\", \"dpmpp_2m_sde_gpu\", \"dpmpp_2m_sde_heun\", \"dpmpp_2m_sde_heun_gpu\", \"dpmpp_3m_sde\", \"dpmpp_3m_sde_gpu\", \"ddpm\", \"lcm\", \"ipndm\", \"ipndm_v\", \"deis\", \"res_multistep\", \"res_multistep_cfg_pp\", \"res_multistep_ancestral\", \"res_multistep_ancestral_cfg_pp\", \"gradient_estimation\", \"gradient_estimation_cfg_pp\", \"er_sde\", \"seeds_2\", \"seeds_3\", \"sa_solver\", \"sa_solver_pece\", \"ddim\", \"uni_pc\", \"uni_pc_bh2\"]"
#define SCHEDULER_LIST "[\"simple\", \"sgm_uniform\", \"karras\", \"exponential\", \"ddim_uniform\", \"beta\", \"normal\", \"linear_quadratic\", \"kl_optimal\"]"

static const ci_output_def ksampler_out[] = {{"LATENT", NULL, 0, "The denoised latent."}};
static const ci_output_def latent_out[] = {{"LATENT", NULL, 0, NULL}};

const ci_node_def core_ksampler = {
    .abi_version = CI_ABI_VERSION, .name = "KSampler", .display_name = "KSampler",
    .description = "Uses the provided model, positive and negative conditioning to denoise the latent image.",
    .category = "model/sampling",
    .inputs = "{\"required\": {\"model\": [\"MODEL\", {\"tooltip\": \"The model used for denoising the input latent.\"}], "
              "\"seed\": [\"INT\", {\"default\": 0, \"min\": 0, \"max\": 18446744073709551615, \"control_after_generate\": true, \"tooltip\": \"The random seed used for creating the noise.\"}], "
              "\"steps\": [\"INT\", {\"default\": 20, \"min\": 1, \"max\": 10000, \"tooltip\": \"The number of steps used in the denoising process.\"}], "
              "\"cfg\": [\"FLOAT\", {\"default\": 8.0, \"min\": 0.0, \"max\": 100.0, \"step\": 0.1, \"round\": 0.01, \"tooltip\": \"The Classifier-Free Guidance scale balances creativity and adherence to the prompt. Higher values result in images more closely matching the prompt however too high values will negatively impact quality.\"}], "
              "\"sampler_name\": [" SAMPLER_LIST ", {\"tooltip\": \"The algorithm used when sampling, this can affect the quality, speed, and style of the generated output.\"}], "
              "\"scheduler\": [" SCHEDULER_LIST ", {\"tooltip\": \"The scheduler controls how noise is gradually removed to form the image.\"}], "
              "\"positive\": [\"CONDITIONING\", {\"tooltip\": \"The conditioning describing the attributes you want to include in the image.\"}], "
              "\"negative\": [\"CONDITIONING\", {\"tooltip\": \"The conditioning describing the attributes you want to exclude from the image.\"}], "
              "\"latent_image\": [\"LATENT\", {\"tooltip\": \"The latent image to denoise.\"}], "
              "\"denoise\": [\"FLOAT\", {\"default\": 1.0, \"min\": 0.0, \"max\": 1.0, \"step\": 0.01, \"tooltip\": \"The amount of denoising applied, lower values will maintain the structure of the initial image allowing for image to image sampling.\"}]}}",
    .outputs = ksampler_out, .n_outputs = 1,
    .search_aliases = (const char *const[]){"sampler", "sample", "generate", "denoise", "diffuse", "txt2img", "img2img", NULL},
    .run = ksampler_run,
};

/* ---- KSamplerAdvanced ---- */

static int ksampler_advanced_run(ci_call *c) {
    ks_params p = {0};
    ks_params_default(&p);
    const char *add = ci_get_string(c, "add_noise"), *left = ci_get_string(c, "return_with_leftover_noise");
    p.seed = ci_get_u64(c, "noise_seed");
    p.steps = (int)ci_get_int(c, "steps");
    p.denoise = 1.0;
    p.add_noise = !add || strcmp(add, "disable");
    p.start_at_step = (int)ci_get_int(c, "start_at_step");
    p.end_at_step = (int)ci_get_int(c, "end_at_step");
    p.leftover_noise = left && !strcmp(left, "enable");
    return sample(c, &p, ci_get_float(c, "cfg"));
}

const ci_node_def core_ksampler_advanced = {
    .abi_version = CI_ABI_VERSION, .name = "KSamplerAdvanced", .display_name = "KSampler (Advanced)",
    .category = "model/sampling",
    .inputs = "{\"required\": {\"model\": [\"MODEL\"], \"add_noise\": [[\"enable\", \"disable\"], {\"advanced\": true}], "
              "\"noise_seed\": [\"INT\", {\"default\": 0, \"min\": 0, \"max\": 18446744073709551615, \"control_after_generate\": true}], "
              "\"steps\": [\"INT\", {\"default\": 20, \"min\": 1, \"max\": 10000}], "
              "\"cfg\": [\"FLOAT\", {\"default\": 8.0, \"min\": 0.0, \"max\": 100.0, \"step\": 0.1, \"round\": 0.01}], "
              "\"sampler_name\": [" SAMPLER_LIST "], \"scheduler\": [" SCHEDULER_LIST "], "
              "\"positive\": [\"CONDITIONING\"], \"negative\": [\"CONDITIONING\"], \"latent_image\": [\"LATENT\"], "
              "\"start_at_step\": [\"INT\", {\"default\": 0, \"min\": 0, \"max\": 10000, \"advanced\": true}], "
              "\"end_at_step\": [\"INT\", {\"default\": 10000, \"min\": 0, \"max\": 10000, \"advanced\": true}], "
              "\"return_with_leftover_noise\": [[\"disable\", \"enable\"], {\"advanced\": true}]}}",
    .outputs = latent_out, .n_outputs = 1,
    .run = ksampler_advanced_run,
};
