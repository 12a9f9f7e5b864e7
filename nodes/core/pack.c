/* pack.c -- registers the core nodes in ComfyUI's nodes.py order (/object_info order). */
#include "core.h"

int core_pack_init(const ci_host *host) {
    static const ci_node_def *const defs[] = {
        &core_empty_latent_image, &core_save_image, &core_preview_image, &core_load_image,
        &core_load_image_mask, &core_image_scale, &core_image_scale_by, &core_image_invert,
        &core_image_batch, &core_latent_upscale, &core_latent_upscale_by,
        &core_latent_from_batch, &core_repeat_latent_batch, &core_set_latent_noise_mask,
        &core_save_latent, &core_load_latent,
    };
    for (size_t i = 0; i < sizeof defs / sizeof *defs; i++)
        if (host->register_node(defs[i]) != 0) return -1;
    return 0;
}
