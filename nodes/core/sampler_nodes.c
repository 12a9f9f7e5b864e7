/* sampler_nodes.c -- KSampler and KSamplerAdvanced.
 *
 * sampling/ does the arithmetic: sigmas, noise, the sampler, the inpainting blend and
 * the CFG guider, which also combines conditioning areas and strengths as ComfyUI's
 * calc_cond_batch. This file hands it the CONDITIONING lists (one guider id per
 * entry, positive entries first) and is the model function under it: the UNet on a
 * batch of items, each with the context of its id.
 *
 * --jit: before the first step the guider's first call and the checkpoint VAE's decode
 * of the latent run in plan mode (tensor/ops.h): every primitive they need is created
 * and every weight prepared there, at the shapes the steps will use, so no step pays
 * for it. A plan executes no kernel; the guider keeps no state between calls.
 */
#include "sd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "base/log.h"
#include "sampling/cfg.h"
#include "sampling/ksampler.h"
#include "tensor/ops.h"

typedef struct guide_ctx {
    unet *u;
    const tensor **ctx;        /* (npos + nneg) context of each conditioning id */
    char err[512];
} guide_ctx;

#define LATENT_C 4

/* One UNet call on n items of (4, h, w): item i takes ctx[ids[i]]'s tokens (all the
 * same count). */
static int unet_run(guide_ctx *g, const float *x, int n, const int *ids, int64_t h, int64_t w,
                    float timestep, float *out) {
    const tensor *first = g->ctx[ids[0]];
    int64_t L = first->ne[1], D = first->ne[2];
    tensor *xt = tensor_view(DT_F32, 4, (int64_t[]){n, LATENT_C, h, w}, (void *)x);
    tensor *ot = tensor_view(DT_F32, 4, (int64_t[]){n, LATENT_C, h, w}, out);
    tensor *t = tensor_new(DT_F32, 1, (int64_t[]){n});
    tensor *c = tensor_new(DT_F32, 3, (int64_t[]){n, L, D});
    int rc = -1;
    if (xt && ot && t && c) {
        for (int i = 0; i < n; i++) {
            ((float *)t->data)[i] = timestep;
            memcpy((float *)c->data + i * L * D, g->ctx[ids[i]]->data, (size_t)(L * D) * sizeof(float));
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

/* cfg_eps_fn. Items whose contexts have different token counts cannot share a batch:
 * each run of equal counts is one call (ComfyUI would repeat the shorter context,
 * which gives the same numbers). */
static int guide_eps(void *vctx, const float *x, int nbatch, const int *ids, int64_t h, int64_t w,
                     float timestep, float *out) {
    guide_ctx *g = vctx;
    int64_t per = LATENT_C * h * w;
    for (int i = 0, j; i < nbatch; i = j) {
        for (j = i + 1; j < nbatch && g->ctx[ids[j]]->ne[1] == g->ctx[ids[i]]->ne[1]; j++) {}
        if (unet_run(g, x + i * per, j - i, ids + i, h, w, timestep, out + i * per)) return -1;
    }
    return 0;
}

/* The guider's view of a CONDITIONING list: ids from `first` on, areas and strengths. */
static void guide_conds(const sd_cond *k, int first, const tensor **ctx, cfg_cond *out) {
    for (int i = 0; i < k->n; i++) {
        const sd_cond_entry *e = &k->e[i];
        out[i] = cfg_cond_full(first + i);
        if (e->has_area) memcpy(out[i].area, e->area, sizeof out[i].area);
        out[i].strength = e->strength;
        ctx[first + i] = e->cond;
    }
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

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* --jit (see the top): plans the UNet calls of a step and the decode of the result.
 * A failure here is the real call's to report, so it is only logged. */
static void sample_plan(cfg_guider *guider, const sd_checkpoint *ck, const tensor *latent) {
    if (!backend_settings()->jit) return;
    double t0 = now_s();
    uint64_t made = ops_primitives_created();
    float *denoised = malloc((size_t)tensor_numel(latent) * sizeof *denoised);
    char err[256] = "";
    int was = ops_plan_set(1);
    int rc = denoised ? cfg_denoise(guider, latent->data, ck->ms.sigma_max, denoised, NULL) : -1;
    tensor *img = rc == 0 && ck->vae ? vae_decode(ck->vae, latent, err, sizeof err) : NULL;
    ops_plan_set(was);
    free(denoised);
    tensor_free(img);
    if (rc) log_warn("jit: planning the sampler's model call failed");
    else log_info("jit: planned the UNet and VAE decode for a %lldx%lld latent, batch %lld: "
                  "%llu primitives created in %.2f s", (long long)latent->ne[2],
                  (long long)latent->ne[3], (long long)latent->ne[0],
                  (unsigned long long)(ops_primitives_created() - made), now_s() - t0);
}

static int sample(ci_call *c, ks_params *p, double cfg) {
    const sd_handle *mh = ci_get_object(c, "model", SD_TYPE_MODEL);
    const sd_cond *pos = ci_get_object(c, "positive", SD_TYPE_COND), *neg = ci_get_object(c, "negative", SD_TYPE_COND);
    const ci_latent *in = ci_get_object(c, "latent_image", CI_TYPE_LATENT);
    const char *sname = ci_get_string(c, "sampler_name"), *kname = ci_get_string(c, "scheduler");
    char msg[512] = "";
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
    int64_t B = s->ne[0], h = s->ne[2], w = s->ne[3], per = LATENT_C * h * w;
    const tensor **ctx = malloc((size_t)(pos->n + neg->n) * sizeof *ctx);
    cfg_cond *conds = malloc((size_t)(pos->n + neg->n) * sizeof *conds);
    guide_ctx g = {ck->unet, ctx, ""};
    if (ctx && conds) {
        guide_conds(pos, 0, ctx, conds);
        guide_conds(neg, pos->n, ctx, conds + pos->n);
    }
    cfg_guider *guider = ctx && conds ? cfg_new(&ck->ms, guide_eps, &g, conds, pos->n, conds + pos->n, neg->n,
                                                (int)B, LATENT_C, h, w, cfg) : NULL;
    free(conds);
    float *mask = in->noise_mask ? noise_mask(in, B, h, w, msg, sizeof msg) : NULL;
    ci_latent *out = latent_copy(in);
    if (!guider || !out || (in->noise_mask && !mask)) {
        cfg_free(guider);
        free(ctx);
        free(mask);
        latent_free(out);
        if (in->noise_mask && !mask && msg[0]) return ci_fail(c, "RuntimeError", "noise mask: %s", msg);
        return ci_fail(c, "torch.OutOfMemoryError", "out of memory");
    }
    ks_latent kl = {B, per, s->data, in->n_batch_index == B ? in->batch_index : NULL, mask};
    sd_step_ctx step = {.call = c, .batch = B, .h = h, .w = w};
    sample_plan(guider, ck, s);
    int rc = ks_sample(p, &kl, cfg_denoise, guider, sd_on_step, &step, out->samples->data);
    mc_resize(mh->owner, sd_checkpoint_bytes(ck));   /* weights prepared by now */
    cfg_free(guider);
    free(ctx);
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
