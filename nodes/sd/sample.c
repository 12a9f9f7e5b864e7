/* sample.c -- KSampler and KSamplerAdvanced.
 *
 * The sampler works on flat float arrays (sampling/ksampler.h); this file connects it
 * to the model: a classifier-free-guidance guider (sampling/cfg.h) whose eps callback
 * runs the UNet on the positive and negative contexts (one batched call when the two
 * have the same token count, else two calls, which is the same arithmetic as ComfyUI
 * repeating the shorter context), a noise mask brought to latent resolution, and the
 * host's progress report, which also carries the interrupt, and latent2rgb previews
 * when the preview method asks for them.
 * Only the first entry of each CONDITIONING is used (no area or combined conds yet).
 */
#include "sd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../core/core.h"
#include "base/image.h"
#include "sampling/cfg.h"
#include "sampling/ksampler.h"
#include "tensor/arena.h"
#include "tensor/ops.h"

typedef struct eps_ctx {
    unet *u;
    const tensor *cond, *uncond;   /* (1, L, dim) each */
    int batch;
    int64_t h, w;
    char err[512];
} eps_ctx;

/* One UNet call on n items: [0, n_cond) take the positive context, the rest the negative. */
static int unet_call(eps_ctx *e, const float *x_in, int n, int n_cond, float timestep, float *out) {
    const tensor *first = n_cond > 0 ? e->cond : e->uncond;
    int64_t L = first->ne[1], dim = first->ne[2];
    int64_t xs[4] = { n, 4, e->h, e->w }, ts[1] = { n }, cs[3] = { n, L, dim };
    tensor *x = tensor_view(DT_F32, 4, xs, (void *)x_in), *o = tensor_view(DT_F32, 4, xs, out);
    tensor *t = tensor_new(DT_F32, 1, ts), *c = tensor_new(DT_F32, 3, cs);
    int rc = -1;
    if (x && o && t && c) {
        for (int b = 0; b < n; b++) {
            ((float *)t->data)[b] = timestep;
            const tensor *src = b < n_cond ? e->cond : e->uncond;
            memcpy((float *)c->data + b * L * dim, src->data, (size_t)(L * dim) * sizeof(float));
        }
        rc = unet_forward(e->u, x, t, c, NULL, o, e->err, sizeof e->err);
    } else {
        snprintf(e->err, sizeof e->err, "out of memory");
    }
    tensor_free(x); tensor_free(o); tensor_free(t); tensor_free(c);
    return rc;
}

/* cfg_eps_fn: conditioning id 0 is the positive context, 1 the negative; the guider
 * batches positive items first. Different token counts need two calls. */
static int unet_eps(void *ctx, const float *x_in, int nbatch, const int *ids, int64_t h, int64_t w,
                    float timestep, float *out) {
    eps_ctx *e = ctx;
    int n_cond = 0;
    while (n_cond < nbatch && ids[n_cond] == 0) n_cond++;
    e->h = h;
    e->w = w;
    int64_t per = 4 * h * w;
    if (n_cond > 0 && n_cond < nbatch && e->uncond->ne[1] != e->cond->ne[1])
        return unet_call(e, x_in, n_cond, n_cond, timestep, out) ||
               unet_call(e, x_in + n_cond * per, nbatch - n_cond, 0, timestep, out + n_cond * per);
    return unet_call(e, x_in, nbatch, n_cond, timestep, out);
}

typedef struct step_ctx { ci_call *c; int64_t h, w; } step_ctx;

/* ComfyUI's Latent2RGBPreviewer for SD1.x: the first item's denoised latent through a
 * 4x3 linear map, (x + 1) / 2 clamped, 8-bit, JPEG quality 95 (latent-sized, so well
 * under the 512-pixel preview limit). */
static void preview(step_ctx *s, const float *den) {
    static const float rgb[4][3] = {
        { 0.3512f, 0.2297f, 0.3227f }, { 0.3250f, 0.4974f, 0.2350f },
        { -0.2829f, 0.1762f, 0.2721f }, { -0.2120f, -0.2616f, -0.7177f },
    };
    int64_t n = s->h * s->w;
    img8 im = { (int)s->w, (int)s->h, 3, malloc((size_t)n * 3) };
    if (!im.px) return;
    for (int64_t p = 0; p < n; p++)
        for (int k = 0; k < 3; k++) {
            float v = 0;
            for (int ch = 0; ch < 4; ch++) v += den[ch * n + p] * rgb[ch][k];
            v = (v + 1.0f) / 2.0f;
            im.px[p * 3 + k] = (unsigned char)((v < 0 ? 0 : v > 1 ? 1 : v) * 255.0f);
        }
    unsigned char *jpg;
    size_t len;
    if (jpeg_encode(&im, 95, &jpg, &len) == 0) {
        s->c->host->preview(s->c, 1, jpg, len);
        free(jpg);
    }
    free(im.px);
}

static int on_step(void *ctx, int step, int total, const float *x, const float *den) {
    (void)x;
    step_ctx *s = ctx;
    if (den && s->c->host->preview_method(s->c) != 0) preview(s, den);
    return s->c->host->progress(s->c, step + 1, total);
}

/* The latent's noise mask as (batch, 4*h*w) at latent resolution: bilinear resize,
 * repeated over channels and (cycling) over the batch, as ComfyUI's prepare_mask. */
static float *mask_for(const ci_latent *l, int64_t batch, int64_t h, int64_t w) {
    const tensor *m = l->noise_mask;
    int64_t mb = m->ne[0], mh = m->ne[m->ndim - 2], mw = m->ne[m->ndim - 1];
    int64_t ne[4] = { mb, 1, mh, mw };
    tensor *v = tensor_view(DT_F32, 4, ne, m->data);
    arena *a = arena_new(), *prev = a ? arena_use(a) : NULL;
    tensor *r = v && a ? op_interpolate(v, h, w, INTERP_BILINEAR) : NULL;
    float *out = r ? malloc((size_t)(batch * 4 * h * w) * sizeof *out) : NULL;
    for (int64_t b = 0; out && b < batch; b++)
        for (int ch = 0; ch < 4; ch++)
            memcpy(out + (b * 4 + ch) * h * w, (const float *)r->data + (b % mb) * h * w, (size_t)(h * w) * sizeof *out);
    if (a) { arena_use(prev); arena_free(a); }
    tensor_free(v);
    return out;
}

static const sd_cond_entry *first_cond(ci_call *c, const char *input) {
    const sd_conditioning *k = ci_get_object(c, input, SD_TYPE_CONDITIONING);
    return k && k->n > 0 ? &k->items[0] : NULL;
}

static int sample(ci_call *c, ks_params *p, double cfg, const char *sampler_name, const char *scheduler) {
    const sd_handle *m = ci_get_object(c, "model", SD_TYPE_MODEL);
    const sd_cond_entry *pos = first_cond(c, "positive"), *neg = first_cond(c, "negative");
    const ci_latent *lat = ci_get_object(c, "latent_image", CI_TYPE_LATENT);
    if (!m || !pos || !neg || !lat) return ci_fail(c, "TypeError", "model, positive, negative and latent_image must be connected");
    p->sampler = smp_lookup(sampler_name);
    p->scheduler = sched_lookup(scheduler);
    if (!p->sampler || !p->sampler->fn) return ci_fail(c, "NotImplementedError", "sampler '%s' is not supported yet", sampler_name);
    if ((int)p->scheduler < 0) return ci_fail(c, "ValueError", "unknown scheduler '%s'", scheduler);
    p->ms = &m->ck->sampling;
    const tensor *s = lat->samples;
    if (s->ndim != 4 || s->ne[1] != 4) return ci_fail(c, "RuntimeError", "the latent has %lld channels, the model expects 4", (long long)s->ne[1]);
    int64_t batch = s->ne[0], h = s->ne[2], w = s->ne[3], per = 4 * h * w;
    eps_ctx e = { m->ck->unet, pos->cond, neg->cond, (int)batch, h, w, "" };
    cfg_cond cpos = cfg_cond_full(0), cneg = cfg_cond_full(1);
    cfg_guider *g = cfg_new(p->ms, unet_eps, &e, &cpos, 1, &cneg, 1, (int)batch, 4, h, w, cfg);
    ci_latent *out = latent_copy(lat);
    float *mask = lat->noise_mask ? mask_for(lat, batch, h, w) : NULL;
    if (!g || !out || (lat->noise_mask && !mask)) {
        cfg_free(g); latent_free(out); free(mask);
        return ci_fail(c, "torch.OutOfMemoryError", "out of memory");
    }
    ks_latent in = { batch, per, s->data, lat->batch_index, mask };
    step_ctx sc = { c, h, w };
    int rc = ks_sample(p, &in, cfg_denoise, g, on_step, &sc, out->samples->data);
    cfg_free(g);
    free(mask);
    if (rc != SMP_OK) {
        latent_free(out);
        if (rc == SMP_INTERRUPTED) return ci_fail(c, "comfy.model_management.InterruptProcessingException", "interrupted");
        return ci_fail(c, "RuntimeError", "%s%s%s", smp_strerror(rc), e.err[0] ? ": " : "", e.err);
    }
    return ci_set_object(c, 0, CI_TYPE_LATENT, out, latent_free);
}

static int ksampler_run(ci_call *c) {
    ks_params p = {0};
    ks_params_default(&p);
    p.steps = (int)ci_get_int(c, "steps");
    p.seed = ci_get_u64(c, "seed");
    p.denoise = ci_get_float(c, "denoise");
    return sample(c, &p, ci_get_float(c, "cfg"), ci_get_string(c, "sampler_name"), ci_get_string(c, "scheduler"));
}

static int ksampler_advanced_run(ci_call *c) {
    ks_params p = {0};
    ks_params_default(&p);
    const char *add = ci_get_string(c, "add_noise"), *left = ci_get_string(c, "return_with_leftover_noise");
    p.add_noise = add && !strcmp(add, "enable");
    p.seed = ci_get_u64(c, "noise_seed");
    p.steps = (int)ci_get_int(c, "steps");
    p.start_at_step = (int)ci_get_int(c, "start_at_step");
    p.end_at_step = (int)ci_get_int(c, "end_at_step");
    p.leftover_noise = left && !strcmp(left, "enable");
    p.denoise = 1.0;
    return sample(c, &p, ci_get_float(c, "cfg"), ci_get_string(c, "sampler_name"), ci_get_string(c, "scheduler"));
}

static const ci_output_def sd_ksampler_out[] = {
    { "LATENT", NULL, 0, "The denoised latent." },
};
const ci_node_def sd_ksampler = {
    .abi_version = CI_ABI_VERSION, .name = "KSampler", .display_name = "KSampler",
    .description = "Uses the provided model, positive and negative conditioning to denoise the latent image.",
    .category = "model/sampling",
    .inputs = "{\"required\": {\"model\": [\"MODEL\", {\"tooltip\": \"The model used for denoising the input laten"
              "t.\"}], \"seed\": [\"INT\", {\"default\": 0, \"min\": 0, \"max\": 18446744073709551615, \"control_afte"
              "r_generate\": true, \"tooltip\": \"The random seed used for creating the noise.\"}], \"steps\": ["
              "\"INT\", {\"default\": 20, \"min\": 1, \"max\": 10000, \"tooltip\": \"The number of steps used in the"
              " denoising process.\"}], \"cfg\": [\"FLOAT\", {\"default\": 8.0, \"min\": 0.0, \"max\": 100.0, \"step\""
              ": 0.1, \"round\": 0.01, \"tooltip\": \"The Classifier-Free Guidance scale balances creativity a"
              "nd adherence to the prompt. Higher values result in images more closely matching the promp"
              "t however too high values will negatively impact quality.\"}], \"sampler_name\": [[\"euler\", \""
              "euler_cfg_pp\", \"euler_ancestral\", \"euler_ancestral_cfg_pp\", \"heun\", \"heunpp2\", \"exp_heun_2"
              "_x0\", \"exp_heun_2_x0_sde\", \"dpm_2\", \"dpm_2_ancestral\", \"lms\", \"dpm_fast\", \"dpm_adaptive\", "
              "\"dpmpp_2s_ancestral\", \"dpmpp_2s_ancestral_cfg_pp\", \"dpmpp_sde\", \"dpmpp_sde_gpu\", \"dpmpp_2m"
              "\", \"dpmpp_2m_cfg_pp\", \"dpmpp_2m_sde\", \"dpmpp_2m_sde_gpu\", \"dpmpp_2m_sde_heun\", \"dpmpp_2m_s"
              "de_heun_gpu\", \"dpmpp_3m_sde\", \"dpmpp_3m_sde_gpu\", \"ddpm\", \"lcm\", \"ipndm\", \"ipndm_v\", \"deis"
              "\", \"res_multistep\", \"res_multistep_cfg_pp\", \"res_multistep_ancestral\", \"res_multistep_ance"
              "stral_cfg_pp\", \"gradient_estimation\", \"gradient_estimation_cfg_pp\", \"er_sde\", \"seeds_2\", \""
              "seeds_3\", \"sa_solver\", \"sa_solver_pece\", \"ddim\", \"uni_pc\", \"uni_pc_bh2\"], {\"tooltip\": \"The"
              " algorithm used when sampling, this can affect the quality, speed, and style of the genera"
              "ted output.\"}], \"scheduler\": [[\"simple\", \"sgm_uniform\", \"karras\", \"exponential\", \"ddim_uni"
              "form\", \"beta\", \"normal\", \"linear_quadratic\", \"kl_optimal\"], {\"tooltip\": \"The scheduler con"
              "trols how noise is gradually removed to form the image.\"}], \"positive\": [\"CONDITIONING\", {"
              "\"tooltip\": \"The conditioning describing the attributes you want to include in the image.\"}"
              "], \"negative\": [\"CONDITIONING\", {\"tooltip\": \"The conditioning describing the attributes yo"
              "u want to exclude from the image.\"}], \"latent_image\": [\"LATENT\", {\"tooltip\": \"The latent i"
              "mage to denoise.\"}], \"denoise\": [\"FLOAT\", {\"default\": 1.0, \"min\": 0.0, \"max\": 1.0, \"step\":"
              " 0.01, \"tooltip\": \"The amount of denoising applied, lower values will maintain the structu"
              "re of the initial image allowing for image to image sampling.\"}]}}",
    .outputs = sd_ksampler_out, .n_outputs = 1,
    .search_aliases = (const char *const[]){ "sampler", "sample", "generate", "denoise", "diffuse", "txt2img", "img2img", NULL },
    .run = ksampler_run,
};

static const ci_output_def sd_ksampler_advanced_out[] = {
    { "LATENT", NULL, 0, NULL },
};
const ci_node_def sd_ksampler_advanced = {
    .abi_version = CI_ABI_VERSION, .name = "KSamplerAdvanced", .display_name = "KSampler (Advanced)",
    .category = "model/sampling",
    .inputs = "{\"required\": {\"model\": [\"MODEL\"], \"add_noise\": [[\"enable\", \"disable\"], {\"advanced\": true}]"
              ", \"noise_seed\": [\"INT\", {\"default\": 0, \"min\": 0, \"max\": 18446744073709551615, \"control_aft"
              "er_generate\": true}], \"steps\": [\"INT\", {\"default\": 20, \"min\": 1, \"max\": 10000}], \"cfg\": [\""
              "FLOAT\", {\"default\": 8.0, \"min\": 0.0, \"max\": 100.0, \"step\": 0.1, \"round\": 0.01}], \"sampler_"
              "name\": [[\"euler\", \"euler_cfg_pp\", \"euler_ancestral\", \"euler_ancestral_cfg_pp\", \"heun\", \"he"
              "unpp2\", \"exp_heun_2_x0\", \"exp_heun_2_x0_sde\", \"dpm_2\", \"dpm_2_ancestral\", \"lms\", \"dpm_fast"
              "\", \"dpm_adaptive\", \"dpmpp_2s_ancestral\", \"dpmpp_2s_ancestral_cfg_pp\", \"dpmpp_sde\", \"dpmpp_"
              "sde_gpu\", \"dpmpp_2m\", \"dpmpp_2m_cfg_pp\", \"dpmpp_2m_sde\", \"dpmpp_2m_sde_gpu\", \"dpmpp_2m_sde"
              "_heun\", \"dpmpp_2m_sde_heun_gpu\", \"dpmpp_3m_sde\", \"dpmpp_3m_sde_gpu\", \"ddpm\", \"lcm\", \"ipndm"
              "\", \"ipndm_v\", \"deis\", \"res_multistep\", \"res_multistep_cfg_pp\", \"res_multistep_ancestral\", "
              "\"res_multistep_ancestral_cfg_pp\", \"gradient_estimation\", \"gradient_estimation_cfg_pp\", \"er"
              "_sde\", \"seeds_2\", \"seeds_3\", \"sa_solver\", \"sa_solver_pece\", \"ddim\", \"uni_pc\", \"uni_pc_bh2\""
              "]], \"scheduler\": [[\"simple\", \"sgm_uniform\", \"karras\", \"exponential\", \"ddim_uniform\", \"beta"
              "\", \"normal\", \"linear_quadratic\", \"kl_optimal\"]], \"positive\": [\"CONDITIONING\"], \"negative\":"
              " [\"CONDITIONING\"], \"latent_image\": [\"LATENT\"], \"start_at_step\": [\"INT\", {\"default\": 0, \"mi"
              "n\": 0, \"max\": 10000, \"advanced\": true}], \"end_at_step\": [\"INT\", {\"default\": 10000, \"min\": "
              "0, \"max\": 10000, \"advanced\": true}], \"return_with_leftover_noise\": [[\"disable\", \"enable\"],"
              " {\"advanced\": true}]}}",
    .outputs = sd_ksampler_advanced_out, .n_outputs = 1,
    .run = ksampler_advanced_run,
};
