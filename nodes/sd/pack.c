/* pack.c -- registers the SD model nodes in ComfyUI's nodes.py order. */
#include "sd.h"

int sd_pack_init(const ci_host *host) {
    static const ci_node_def *const defs[] = {
        &sd_ksampler, &sd_checkpoint_loader_simple, &sd_clip_text_encode, &sd_clip_set_last_layer,
        &sd_vae_decode, &sd_vae_encode, &sd_vae_loader, &sd_ksampler_advanced,
        &sd_conditioning_zero_out, &sd_conditioning_average,
    };
    for (size_t i = 0; i < sizeof defs / sizeof *defs; i++)
        if (host->register_node(defs[i]) != 0) return -1;
    return 0;
}
