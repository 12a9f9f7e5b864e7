/* model_nodes.c -- CheckpointLoaderSimple, VAELoader, CLIPSetLastLayer.
 *
 * A checkpoint is opened, detected (io/detect.h: SD1.x only for now; other families
 * get an error naming what was found), and its UNet, CLIP and VAE bound into an
 * sd_checkpoint that goes into the model cache under "ckpt:<path>", so the next
 * prompt with the same file finds it loaded. The file itself is closed afterwards:
 * the models keep their own copies of the weights.
 */
#include "sd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/folders.h"
#include "base/log.h"

#define CI_MB (1024.0 * 1024.0)

int sd_set_handle(ci_call *c, int index, const char *type, mc_obj *owner, int clip_skip) {
    sd_handle *h = malloc(sizeof *h);
    if (!h) return ci_fail(c, "torch.OutOfMemoryError", "out of memory");
    *h = (sd_handle){mc_ref(owner), clip_skip};
    return ci_set_object(c, index, type, h, sd_handle_free);
}

void sd_handle_free(void *p) {
    sd_handle *h = p;
    if (h) mc_release(h->owner);
    free(h);
}

static void checkpoint_free(void *p) {
    sd_checkpoint *ck = p;
    if (!ck) return;
    unet_free(ck->unet);
    clip_free(ck->clip);
    tokenizer_free(ck->tok);
    vae_free(ck->vae);
    free(ck);
}

void sd_on_free(int free_memory) {
    (void)free_memory;
    size_t n = mc_count();
    mc_clear();
    if (n) log_info("models: unloaded %zu cached model(s)", n);
}

/* SD1.x is what the models layer runs today; say what the file is otherwise. */
static int supported(const model_config *cfg, char *err, size_t errlen) {
    if (cfg->family == MODEL_SD15 && cfg->pred == PRED_EPS && !cfg->inpaint && !cfg->pix2pix &&
        cfg->clip_l_prefix[0] && cfg->vae_prefix[0])
        return 0;
    snprintf(err, errlen, "unsupported checkpoint: detected %s (%s prediction%s%s%s); comfyui-ipex "
             "runs SD1.x eps checkpoints with their own CLIP and VAE", cfg->name,
             prediction_name(cfg->pred), cfg->inpaint ? ", inpainting UNet" : "",
             cfg->pix2pix ? ", instruct-pix2pix UNet" : "",
             !cfg->clip_l_prefix[0] || !cfg->vae_prefix[0] ? ", no text encoder or VAE in the file" : "");
    return -1;
}

/* --tokenizer-dir, BASE/models/tokenizers/sd1, the installed data folder, or a download
 * into BASE/models/tokenizers/sd1 (unless --no-download). */
static tokenizer *find_tokenizer(char *err, size_t errlen) {
    return tokenizer_find("sd1", folders_tokenizer_dir(), folders_base(), NULL, 0,
                          folders_tokenizer_url(), err, errlen);
}

static sd_checkpoint *checkpoint_load(const char *path, char *err, size_t errlen) {
    char *cerr = NULL;
    ckpt *file = ckpt_open(path, &cerr);
    if (!file) {
        snprintf(err, errlen, "%s", cerr ? cerr : "cannot open the checkpoint");
        free(cerr);
        return NULL;
    }
    sd_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck) { snprintf(err, errlen, "out of memory"); goto fail; }
    if (model_detect(file, &ck->cfg, err, errlen) || supported(&ck->cfg, err, errlen)) goto fail;
    ms_init_sd15(&ck->ms);
    vae_config vc = vae_config_sd();
    /* The tokenizer first: it is cheap to find (or to fail to find, or download). */
    if (!(ck->tok = find_tokenizer(err, errlen))) goto fail;
    if (!(ck->unet = unet_load(file, ck->cfg.unet_prefix, &ck->cfg.unet, err, errlen))) goto fail;
    if (!(ck->vae = vae_load(file, ck->cfg.vae_prefix, &vc, err, errlen))) goto fail;
    if (!(ck->clip = clip_load(file, ck->cfg.clip_l_prefix, ck->tok, &cerr))) {
        snprintf(err, errlen, "%s", cerr ? cerr : "cannot load the text encoder");
        free(cerr);
        goto fail;
    }
    const char *synth = ckpt_meta(file, "synthetic");
    if (synth)
        log_warn("models: %s is a synthetic checkpoint (%s): its weights are pseudo-random, so its "
                 "pictures are noise by design", path, synth);
    ckpt_close(file);
    return ck;
fail:
    checkpoint_free(ck);
    ckpt_close(file);
    return NULL;
}

size_t sd_checkpoint_bytes(const sd_checkpoint *ck) {
    return (ck->unet ? unet_weight_bytes(ck->unet) : 0) + (ck->vae ? vae_weight_bytes(ck->vae) : 0);
}

/* The cached entry for `key`, or a fresh load of path inserted under it. */
static mc_obj *load_cached(ci_call *c, const char *key, const char *path,
                           sd_checkpoint *(*load)(const char *, char *, size_t)) {
    mc_obj *o = mc_acquire(key);
    if (o) return o;
    char err[1024] = "";
    sd_checkpoint *ck = load(path, err, sizeof err);
    if (!ck) {
        ci_fail(c, "RuntimeError", "%s", err);
        return NULL;
    }
    size_t bytes = sd_checkpoint_bytes(ck);
    log_info("models: loaded %s (%.0f MiB of weights)", path, (double)bytes / CI_MB);
    if (!(o = mc_insert(key, ck, bytes, checkpoint_free))) ci_fail(c, "torch.OutOfMemoryError", "out of memory");
    return o;
}

/* ---- CheckpointLoaderSimple ---- */

static cJSON *checkpoint_files(const ci_host *host, const char *input) {
    (void)input;
    return host->model_files("checkpoints");
}

static int resolve(ci_call *c, const char *folder, const char *name, char *path, size_t cap) {
    if (!name || c->host->model_path(folder, name, path, cap))
        return ci_fail(c, "FileNotFoundError", "Model in folder '%s' with filename '%s' not found.", folder,
                       name ? name : "");
    return 0;
}

static int checkpoint_loader_run(ci_call *c) {
    char path[4096], key[4200];
    if (resolve(c, "checkpoints", ci_get_string(c, "ckpt_name"), path, sizeof path)) return -1;
    snprintf(key, sizeof key, "ckpt:%s", path);
    mc_obj *o = load_cached(c, key, path, checkpoint_load);
    if (!o) return -1;
    int rc = sd_set_handle(c, 0, SD_TYPE_MODEL, o, 0) || sd_set_handle(c, 1, SD_TYPE_CLIP, o, 0) ||
             sd_set_handle(c, 2, SD_TYPE_VAE, o, 0) ? -1 : 0;
    mc_release(o);
    return rc;
}

static const ci_output_def checkpoint_out[] = {
    {"MODEL", NULL, 0, "The model used for denoising latents."},
    {"CLIP", NULL, 0, "The CLIP model used for encoding text prompts."},
    {"VAE", NULL, 0, "The VAE model used for encoding and decoding images to and from latent space."},
};

const ci_node_def core_checkpoint_loader_simple = {
    .abi_version = CI_ABI_VERSION, .name = "CheckpointLoaderSimple", .display_name = "Load Checkpoint",
    .description = "Loads a diffusion model checkpoint, diffusion models are used to denoise latents.",
    .category = "model/loaders",
    .inputs = "{\"required\": {\"ckpt_name\": [[], {\"tooltip\": \"The name of the checkpoint (model) to load.\"}]}}",
    .outputs = checkpoint_out, .n_outputs = 3,
    .search_aliases = (const char *const[]){"load model", "checkpoint", "model loader", "load checkpoint", "ckpt", "model", NULL},
    .options = checkpoint_files,
    .run = checkpoint_loader_run,
};

/* ---- VAELoader ---- */

static sd_checkpoint *vae_file_load(const char *path, char *err, size_t errlen) {
    char *cerr = NULL;
    ckpt *file = ckpt_open(path, &cerr);
    if (!file) {
        snprintf(err, errlen, "%s", cerr ? cerr : "cannot open the VAE");
        free(cerr);
        return NULL;
    }
    sd_checkpoint *ck = calloc(1, sizeof *ck);
    vae_config vc = vae_config_sd();
    /* A standalone VAE has bare keys; a full checkpoint picked as a VAE has the prefix. */
    const char *prefix = ckpt_count_prefix(file, "first_stage_model.") ? "first_stage_model." : "";
    if (ck && !(ck->vae = vae_load(file, prefix, &vc, err, errlen))) {
        free(ck);
        ck = NULL;
    } else if (!ck) {
        snprintf(err, errlen, "out of memory");
    }
    ckpt_close(file);
    return ck;
}

static cJSON *vae_files(const ci_host *host, const char *input) {
    (void)input;
    cJSON *list = host->model_files("vae");
    if (!list) list = cJSON_CreateArray();
    if (list) cJSON_AddItemToArray(list, cJSON_CreateString("pixel_space"));
    return list;
}

static int vae_loader_run(ci_call *c) {
    const char *name = ci_get_string(c, "vae_name");
    if (name && !strcmp(name, "pixel_space"))
        return ci_fail(c, "NotImplementedError", "the pixel_space VAE is not supported by comfyui-ipex");
    char path[4096], key[4200];
    if (resolve(c, "vae", name, path, sizeof path)) return -1;
    snprintf(key, sizeof key, "vae:%s", path);
    mc_obj *o = load_cached(c, key, path, vae_file_load);
    if (!o) return -1;
    int rc = sd_set_handle(c, 0, SD_TYPE_VAE, o, 0);
    mc_release(o);
    return rc;
}

static const ci_output_def vae_out[] = {{"VAE", NULL, 0, NULL}};

const ci_node_def core_vae_loader = {
    .abi_version = CI_ABI_VERSION, .name = "VAELoader", .display_name = "Load VAE",
    .category = "model/loaders",
    .inputs = "{\"required\": {\"vae_name\": [[]]}}",
    .outputs = vae_out, .n_outputs = 1,
    .options = vae_files,
    .run = vae_loader_run,
};

/* ---- CLIPSetLastLayer ---- */

static int clip_set_last_layer_run(ci_call *c) {
    const sd_handle *h = ci_get_object(c, "clip", SD_TYPE_CLIP);
    if (!h) return ci_fail(c, "TypeError", "clip is not a CLIP");
    return sd_set_handle(c, 0, SD_TYPE_CLIP, h->owner, (int)ci_get_int(c, "stop_at_clip_layer"));
}

static const ci_output_def clip_out[] = {{"CLIP", NULL, 0, NULL}};

const ci_node_def core_clip_set_last_layer = {
    .abi_version = CI_ABI_VERSION, .name = "CLIPSetLastLayer", .display_name = "CLIP Set Last Layer",
    .category = "model/conditioning",
    .inputs = "{\"required\": {\"clip\": [\"CLIP\"], \"stop_at_clip_layer\": [\"INT\", {\"default\": -1, \"min\": -24, \"max\": -1, \"step\": 1, \"advanced\": true}]}}",
    .outputs = clip_out, .n_outputs = 1,
    .run = clip_set_last_layer_run,
};
