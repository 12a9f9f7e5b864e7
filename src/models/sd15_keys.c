/* sd15_keys.c -- see sd15_keys.h.
 *
 * Each loader lists what it binds (model.h's recording mode); the only tensors added
 * by hand are those a real checkpoint carries and no module reads. Every tensor is F16
 * except those few, then the list is put in safetensors' order (dtype, then name).
 */
#include "models/sd15_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/clip_model.h"
#include "models/unet.h"
#include "models/vae.h"

unet_config sd15_unet_config(void) {
    return (unet_config){
        .in_channels = 4, .out_channels = 4, .model_channels = 320, .adm_in_channels = 0,
        .context_dim = 768, .use_linear_in_transformer = 0,
        .num_levels = 4, .channel_mult = {1, 2, 4, 4}, .num_res_blocks = {2, 2, 2, 2},
        .n_transformer_depth = 8, .transformer_depth = {1, 1, 1, 1, 1, 1, 0, 0},
        .n_transformer_depth_output = 12,
        .transformer_depth_output = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},
        .transformer_depth_middle = 1, .num_heads = 8, .num_head_channels = -1,
    };
}

/* Saved by Hugging Face's CLIPTextModel as a buffer (0..76) and present in the v1-5
 * checkpoints; positions come from the token index here, as in ComfyUI, which ignores it. */
static int sd15_unread_keys(synth_keys *k) {
    return synth_keys_add(k, CLIP_SD1_PREFIX "embeddings.position_ids", DT_I64, 2,
                          (const int64_t[]){1, 77});
}

int sd15_keys(synth_keys *out, char *err, size_t errlen) {
    unet_config uc = sd15_unet_config();
    vae_config vc = vae_config_sd();
    clip_config cc = clip_config_l();
    char *cerr = NULL;
    memset(out, 0, sizeof *out);
    int rc = unet_keys("model.diffusion_model.", &uc, out, DT_F16, err, errlen);
    rc = rc ? rc : vae_keys("first_stage_model.", &vc, out, DT_F16, err, errlen);
    if (!rc && clip_keys(CLIP_SD1_PREFIX, &cc, out, DT_F16, &cerr)) {
        snprintf(err, errlen, "%s", cerr ? cerr : "out of memory");
        free(cerr);
        rc = -1;
    }
    if (!rc && sd15_unread_keys(out)) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc) synth_keys_free(out);
    else synth_keys_sort(out);
    return rc;
}
