/* checkpoint.c -- CheckpointLoaderSimple and CLIPSetLastLayer.
 *
 * The loader opens the file from the checkpoints folder, detects the model family as
 * ComfyUI's model_detection does, finds the CLIP tokenizer (--tokenizer-dir, the
 * models folders, the installed data) and loads the UNet, CLIP and VAE. Loading is
 * the expensive part of a prompt; the output cache keeps the result for as long as the
 * file name stays the same.
 */
#include "sd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/folders.h"
#include "io/ckpt.h"
#include "models/tokenizer_bpe.h"

void sd_ckpt_unref(sd_ckpt *ck) {
    if (!ck || atomic_fetch_sub(&ck->refs, 1) != 1) return;
    vae_free(ck->vae);
    unet_free(ck->unet);
    clip_free(ck->clip);
    tokenizer_free(ck->tok);
    ckpt_close(ck->file);
    free(ck);
}

static void handle_free(void *p) {
    sd_handle *h = p;
    if (h) sd_ckpt_unref(h->ck);
    free(h);
}

int sd_set_handle(ci_call *c, int index, const char *type, sd_ckpt *ck, int clip_skip) {
    sd_handle *h = malloc(sizeof *h);
    if (!h) return ci_fail(c, "MemoryError", "out of memory");
    atomic_fetch_add(&ck->refs, 1);
    *h = (sd_handle){ ck, clip_skip };
    return ci_set_object(c, index, type, h, handle_free);
}

static sd_ckpt *load(ci_call *c, const char *path, const char *name) {
    sd_ckpt *ck = calloc(1, sizeof *ck);
    char err[512] = "";
    char *cerr = NULL;
    if (!ck) { ci_fail(c, "MemoryError", "out of memory"); return NULL; }
    atomic_init(&ck->refs, 1);
    ck->file = ckpt_open(path, &cerr);
    int detected = ck->file && model_detect(ck->file, &ck->config, err, sizeof err) == 0;
    if (detected) {
        if (ck->config.family != MODEL_SD15) snprintf(err, sizeof err, "%s models are not supported yet (only SD1.x)", ck->config.name);
        else ck->tok = tokenizer_find("sd1", folders_tokenizer_dir(), folders_base(), NULL, 0, err, sizeof err);
    }
    if (ck->tok) ck->clip = clip_load(ck->file, ck->config.clip_l_prefix[0] ? ck->config.clip_l_prefix : CLIP_SD1_PREFIX, ck->tok, &cerr);
    if (ck->clip) ck->unet = unet_load(ck->file, ck->config.unet_prefix, &ck->config.unet, err, sizeof err);
    vae_config vc = vae_config_sd();
    if (ck->unet) ck->vae = vae_load(ck->file, ck->config.vae_prefix[0] ? ck->config.vae_prefix : "first_stage_model.", &vc, err, sizeof err);
    if (!ck->vae) {
        if (ck->file && !detected) ci_fail(c, "RuntimeError", "ERROR: Could not detect model type of: %s (%s)", name, err);
        else ci_fail(c, "RuntimeError", "cannot load %s: %s", name, cerr ? cerr : err);
        free(cerr);
        sd_ckpt_unref(ck);
        return NULL;
    }
    ms_init_discrete(&ck->sampling, ck->config.pred == PRED_V ? MS_V : MS_EPS, 0.00085, 0.012, ck->config.latent_scale);
    return ck;
}

static int checkpoint_run(ci_call *c) {
    const char *name = ci_get_string(c, "ckpt_name");
    char path[4096];
    if (!name || c->host->model_path("checkpoints", name, path, sizeof path) < 0)
        return ci_fail(c, "FileNotFoundError", "Model in folder 'checkpoints' with filename '%s' not found.", name ? name : "");
    sd_ckpt *ck = load(c, path, name);
    if (!ck) return -1;
    int rc = sd_set_handle(c, 0, SD_TYPE_MODEL, ck, 0);
    if (rc == 0) rc = sd_set_handle(c, 1, SD_TYPE_CLIP, ck, 0);
    if (rc == 0) rc = sd_set_handle(c, 2, SD_TYPE_VAE, ck, 0);
    sd_ckpt_unref(ck);
    return rc;
}

static cJSON *checkpoint_files(const ci_host *host, const char *input) {
    return strcmp(input, "ckpt_name") ? NULL : host->model_files("checkpoints");
}

static const ci_output_def sd_checkpoint_loader_simple_out[] = {
    { "MODEL", NULL, 0, "The model used for denoising latents." },
    { "CLIP", NULL, 0, "The CLIP model used for encoding text prompts." },
    { "VAE", NULL, 0, "The VAE model used for encoding and decoding images to and from latent space." },
};
const ci_node_def sd_checkpoint_loader_simple = {
    .abi_version = CI_ABI_VERSION, .name = "CheckpointLoaderSimple", .display_name = "Load Checkpoint",
    .description = "Loads a diffusion model checkpoint, diffusion models are used to denoise latents.",
    .category = "model/loaders",
    .inputs = "{\"required\": {\"ckpt_name\": [[], {\"tooltip\": \"The name of the checkpoint (model) to load.\"}]}}",
    .outputs = sd_checkpoint_loader_simple_out, .n_outputs = 3,
    .search_aliases = (const char *const[]){ "load model", "checkpoint", "model loader", "load checkpoint", "ckpt", "model", NULL },
    .options = checkpoint_files,
    .run = checkpoint_run,
};

/* ---- CLIPSetLastLayer ---- */

static int set_last_layer_run(ci_call *c) {
    const sd_handle *h = ci_get_object(c, "clip", SD_TYPE_CLIP);
    if (!h) return ci_fail(c, "TypeError", "clip is not a CLIP");
    return sd_set_handle(c, 0, SD_TYPE_CLIP, h->ck, (int)ci_get_int(c, "stop_at_clip_layer"));
}

static const ci_output_def sd_clip_set_last_layer_out[] = {
    { "CLIP", NULL, 0, NULL },
};
const ci_node_def sd_clip_set_last_layer = {
    .abi_version = CI_ABI_VERSION, .name = "CLIPSetLastLayer", .display_name = "CLIP Set Last Layer",
    .category = "model/conditioning",
    .inputs = "{\"required\": {\"clip\": [\"CLIP\"], \"stop_at_clip_layer\": [\"INT\", {\"default\": -1, \"min\": -24, "
              "\"max\": -1, \"step\": 1, \"advanced\": true}]}}",
    .outputs = sd_clip_set_last_layer_out, .n_outputs = 1,
    .run = set_last_layer_run,
};

/* ---- VAELoader ---- */

/* The vae folder's files, then "pixel_space" (always last, as ComfyUI lists it; the
 * tiny autoencoders of vae_approx are not offered). */
static cJSON *vae_files(const ci_host *host, const char *input) {
    if (strcmp(input, "vae_name")) return NULL;
    cJSON *list = host->model_files("vae");
    if (!list) list = cJSON_CreateArray();
    cJSON_AddItemToArray(list, cJSON_CreateString("pixel_space"));
    return list;
}

static int vae_loader_run(ci_call *c) {
    const char *name = ci_get_string(c, "vae_name");
    char path[4096], err[512] = "";
    char *cerr = NULL;
    if (name && !strcmp(name, "pixel_space"))
        return ci_fail(c, "NotImplementedError", "the pixel_space VAE is not supported yet");
    if (!name || c->host->model_path("vae", name, path, sizeof path) < 0)
        return ci_fail(c, "FileNotFoundError", "Model in folder 'vae' with filename '%s' not found.", name ? name : "");
    sd_ckpt *ck = calloc(1, sizeof *ck);
    if (!ck) return ci_fail(c, "MemoryError", "out of memory");
    atomic_init(&ck->refs, 1);
    vae_config vc = vae_config_sd();
    ck->file = ckpt_open(path, &cerr);
    /* a standalone VAE file keeps its keys at the top level; some carry the
     * checkpoint's "first_stage_model." prefix */
    if (ck->file) {
        const char *prefix = ckpt_count_prefix(ck->file, "first_stage_model.") ? "first_stage_model." : "";
        ck->vae = vae_load(ck->file, prefix, &vc, err, sizeof err);
    }
    if (!ck->vae) {
        ci_fail(c, "RuntimeError", "cannot load the VAE %s: %s", name, cerr ? cerr : err);
        free(cerr);
        sd_ckpt_unref(ck);
        return -1;
    }
    int rc = sd_set_handle(c, 0, SD_TYPE_VAE, ck, 0);
    sd_ckpt_unref(ck);
    return rc;
}

static const ci_output_def sd_vae_loader_out[] = { { "VAE", NULL, 0, NULL } };
const ci_node_def sd_vae_loader = {
    .abi_version = CI_ABI_VERSION, .name = "VAELoader", .display_name = "Load VAE",
    .category = "model/loaders",
    .inputs = "{\"required\": {\"vae_name\": [[]]}}",
    .outputs = sd_vae_loader_out, .n_outputs = 1,
    .options = vae_files,
    .run = vae_loader_run,
};
