/* pack.c -- registers the core nodes in ComfyUI's nodes.py order (/object_info order). */
#include "sd.h"

int core_pack_init(const ci_host *host) {
    static const ci_node_def *const defs[] = {
        &core_ksampler, &core_checkpoint_loader_simple, &core_clip_text_encode,
        &core_clip_set_last_layer, &core_vae_decode, &core_vae_encode, &core_vae_encode_for_inpaint,
        &core_vae_loader, &core_empty_latent_image, &core_latent_upscale, &core_latent_upscale_by,
        &core_latent_from_batch, &core_repeat_latent_batch, &core_save_image, &core_preview_image,
        &core_load_image, &core_load_image_mask, &core_image_scale, &core_image_scale_by,
        &core_image_invert, &core_image_batch, &core_conditioning_average,
        &core_conditioning_combine, &core_conditioning_set_area, &core_ksampler_advanced,
        &core_set_latent_noise_mask, &core_save_latent, &core_load_latent, &core_vae_decode_tiled,
        &core_vae_encode_tiled, &core_conditioning_zero_out,
    };
    for (size_t i = 0; i < sizeof defs / sizeof *defs; i++)
        if (host->register_node(defs[i]) != 0) return -1;
    return host->on_free(sd_on_free);
}
