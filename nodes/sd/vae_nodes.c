/* vae_nodes.c -- VAEDecode and VAEEncode between LATENT and IMAGE. */
#include "sd.h"
#include "../core/core.h"

#include <string.h>

static int vae_decode_run(ci_call *c) {
    const sd_handle *h = ci_get_object(c, "vae", SD_TYPE_VAE);
    const ci_latent *l = ci_get_object(c, "samples", CI_TYPE_LATENT);
    if (!h || !l) return ci_fail(c, "TypeError", "samples must be a LATENT and vae a VAE");
    char err[512] = "out of memory";
    tensor *img = vae_decode(h->ck->vae, l->samples, err, sizeof err);
    if (!img) return ci_fail(c, "RuntimeError", "%s", err);
    return set_tensor(c, 0, CI_TYPE_IMAGE, img);
}

/* ComfyUI crops the image to a multiple of 8 (centred) before encoding. */
static int vae_encode_run(ci_call *c) {
    const sd_handle *h = ci_get_object(c, "vae", SD_TYPE_VAE);
    const tensor *px = ci_get_object(c, "pixels", CI_TYPE_IMAGE);
    if (!h || !px || px->ndim != 4) return ci_fail(c, "TypeError", "pixels must be an IMAGE and vae a VAE");
    int64_t b = px->ne[0], hh = px->ne[1] / 8 * 8, ww = px->ne[2] / 8 * 8, ch = px->ne[3];
    int64_t y0 = (px->ne[1] % 8) / 2, x0 = (px->ne[2] % 8) / 2, ne[4] = { b, hh, ww, ch };
    tensor *crop = tensor_new(DT_F32, 4, ne);
    if (!crop) return ci_fail(c, "torch.OutOfMemoryError", "out of memory");
    for (int64_t i = 0; i < b; i++)
        for (int64_t y = 0; y < hh; y++)
            memcpy((float *)crop->data + ((i * hh + y) * ww) * ch,
                   (const float *)px->data + ((i * px->ne[1] + y + y0) * px->ne[2] + x0) * ch, (size_t)(ww * ch) * sizeof(float));
    char err[512] = "out of memory";
    tensor *s = vae_encode(h->ck->vae, crop, err, sizeof err);
    tensor_free(crop);
    if (!s) return ci_fail(c, "RuntimeError", "%s", err);
    return set_latent(c, 0, latent_new(s));
}

static const ci_output_def sd_vae_decode_out[] = {
    { "IMAGE", NULL, 0, "The decoded image." },
};
const ci_node_def sd_vae_decode = {
    .abi_version = CI_ABI_VERSION, .name = "VAEDecode", .display_name = "VAE Decode",
    .description = "Decodes latent images back into pixel space images.",
    .category = "model/latent",
    .inputs = "{\"required\": {\"samples\": [\"LATENT\", {\"tooltip\": \"The latent to be decoded.\"}], \"vae\": [\"VA"
              "E\", {\"tooltip\": \"The VAE model used for decoding the latent.\"}]}}",
    .outputs = sd_vae_decode_out, .n_outputs = 1,
    .search_aliases = (const char *const[]){ "decode", "decode latent", "latent to image", "render latent", NULL },
    .run = vae_decode_run,
};

static const ci_output_def sd_vae_encode_out[] = {
    { "LATENT", NULL, 0, NULL },
};
const ci_node_def sd_vae_encode = {
    .abi_version = CI_ABI_VERSION, .name = "VAEEncode", .display_name = "VAE Encode",
    .category = "model/latent",
    .inputs = "{\"required\": {\"pixels\": [\"IMAGE\"], \"vae\": [\"VAE\"]}}",
    .outputs = sd_vae_encode_out, .n_outputs = 1,
    .search_aliases = (const char *const[]){ "encode", "encode image", "image to latent", NULL },
    .run = vae_encode_run,
};
