/* vae_nodes.c -- VAEDecode, VAEEncode, VAEDecodeTiled, VAEEncodeTiled, VAEEncodeForInpaint.
 *
 * The VAE itself (models/vae.h) already follows ComfyUI's pixel conventions (centre
 * crop to multiples of 8, [0,1] <-> [-1,1], clamp), so these nodes only move tensors
 * between IMAGE and LATENT. VAEEncodeForInpaint greys out the masked pixels before
 * encoding and returns the mask grown by a box filter as the latent's noise mask.
 */
#include "sd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static vae *get_vae(ci_call *c) {
    const sd_handle *h = ci_get_object(c, "vae", SD_TYPE_VAE);
    if (!h || !sd_of(h)->vae) {
        ci_fail(c, "RuntimeError", "ERROR: VAE is invalid: None\n\nIf the VAE is from a checkpoint loader node your checkpoint does not contain a valid VAE.");
        return NULL;
    }
    return sd_of(h)->vae;
}

static int decode(ci_call *c, int tiled) {
    vae *v = get_vae(c);
    const ci_latent *l = ci_get_object(c, "samples", CI_TYPE_LATENT);
    if (!v) return -1;
    if (!l) return ci_fail(c, "TypeError", "samples is not a LATENT");
    char err[512] = "";
    tensor *img;
    if (tiled) {
        int64_t tile = ci_get_int(c, "tile_size"), overlap = ci_get_int(c, "overlap");
        if (tile < overlap * 4) overlap = tile / 4;
        int d = vae_downscale(v);
        img = vae_decode_tiled(v, l->samples, (int)(tile / d), (int)(tile / d), (int)(overlap / d), err, sizeof err);
    } else {
        img = vae_decode(v, l->samples, err, sizeof err);
    }
    if (!img) return ci_fail(c, "RuntimeError", "VAE decode: %s", err);
    return set_tensor(c, 0, CI_TYPE_IMAGE, img);
}

static int encode(ci_call *c, int tiled) {
    vae *v = get_vae(c);
    const tensor *px = ci_get_object(c, "pixels", CI_TYPE_IMAGE);
    if (!v) return -1;
    if (!px) return ci_fail(c, "TypeError", "pixels is not an IMAGE");
    char err[512] = "";
    tensor *z = tiled ? vae_encode_tiled(v, px, (int)ci_get_int(c, "tile_size"), (int)ci_get_int(c, "tile_size"),
                                         (int)ci_get_int(c, "overlap"), err, sizeof err)
                      : vae_encode(v, px, err, sizeof err);
    if (!z) return ci_fail(c, "RuntimeError", "VAE encode: %s", err);
    return set_latent(c, 0, latent_new(z));
}

static int vae_decode_run(ci_call *c) { return decode(c, 0); }
static int vae_decode_tiled_run(ci_call *c) { return decode(c, 1); }
static int vae_encode_run(ci_call *c) { return encode(c, 0); }
static int vae_encode_tiled_run(ci_call *c) { return encode(c, 1); }

static const ci_output_def image_out_tip[] = {{"IMAGE", NULL, 0, "The decoded image."}};
static const ci_output_def image_out[] = {{"IMAGE", NULL, 0, NULL}};
static const ci_output_def latent_out[] = {{"LATENT", NULL, 0, NULL}};

const ci_node_def core_vae_decode = {
    .abi_version = CI_ABI_VERSION, .name = "VAEDecode", .display_name = "VAE Decode",
    .description = "Decodes latent images back into pixel space images.",
    .category = "model/latent",
    .inputs = "{\"required\": {\"samples\": [\"LATENT\", {\"tooltip\": \"The latent to be decoded.\"}], \"vae\": [\"VAE\", {\"tooltip\": \"The VAE model used for decoding the latent.\"}]}}",
    .outputs = image_out_tip, .n_outputs = 1,
    .search_aliases = (const char *const[]){"decode", "decode latent", "latent to image", "render latent", NULL},
    .run = vae_decode_run,
};

const ci_node_def core_vae_encode = {
    .abi_version = CI_ABI_VERSION, .name = "VAEEncode", .display_name = "VAE Encode",
    .category = "model/latent",
    .inputs = "{\"required\": {\"pixels\": [\"IMAGE\"], \"vae\": [\"VAE\"]}}",
    .outputs = latent_out, .n_outputs = 1,
    .search_aliases = (const char *const[]){"encode", "encode image", "image to latent", NULL},
    .run = vae_encode_run,
};

const ci_node_def core_vae_decode_tiled = {
    .abi_version = CI_ABI_VERSION, .name = "VAEDecodeTiled", .display_name = "VAE Decode (Tiled)",
    .category = "model/latent",
    .inputs = "{\"required\": {\"samples\": [\"LATENT\"], \"vae\": [\"VAE\"], "
              "\"tile_size\": [\"INT\", {\"default\": 512, \"min\": 64, \"max\": 4096, \"step\": 32, \"advanced\": true}], "
              "\"overlap\": [\"INT\", {\"default\": 64, \"min\": 0, \"max\": 4096, \"step\": 32, \"advanced\": true}], "
              "\"temporal_size\": [\"INT\", {\"default\": 64, \"min\": 8, \"max\": 4096, \"step\": 4, \"tooltip\": \"Only used for video VAEs: Amount of frames to decode at a time.\", \"advanced\": true}], "
              "\"temporal_overlap\": [\"INT\", {\"default\": 8, \"min\": 4, \"max\": 4096, \"step\": 4, \"tooltip\": \"Only used for video VAEs: Amount of frames to overlap.\", \"advanced\": true}]}}",
    .outputs = image_out, .n_outputs = 1,
    .run = vae_decode_tiled_run,
};

/* Not in the reference object_info dump; declared as ComfyUI's nodes.py has it. */
const ci_node_def core_vae_encode_tiled = {
    .abi_version = CI_ABI_VERSION, .name = "VAEEncodeTiled", .display_name = "VAE Encode (Tiled)",
    .category = "_for_testing",
    .inputs = "{\"required\": {\"pixels\": [\"IMAGE\"], \"vae\": [\"VAE\"], "
              "\"tile_size\": [\"INT\", {\"default\": 512, \"min\": 64, \"max\": 4096, \"step\": 64}], "
              "\"overlap\": [\"INT\", {\"default\": 64, \"min\": 0, \"max\": 4096, \"step\": 32}], "
              "\"temporal_size\": [\"INT\", {\"default\": 64, \"min\": 8, \"max\": 4096, \"step\": 4, \"tooltip\": \"Only used for video VAEs: Amount of frames to encode at a time.\"}], "
              "\"temporal_overlap\": [\"INT\", {\"default\": 8, \"min\": 4, \"max\": 4096, \"step\": 4, \"tooltip\": \"Only used for video VAEs: Amount of frames to overlap.\"}]}}",
    .outputs = latent_out, .n_outputs = 1,
    .run = vae_encode_tiled_run,
};

/* ---- VAEEncodeForInpaint ---- */

/* clamp(conv2d(round(mask), ones(k, k), padding=ceil((k-1)/2)), 0, 1), cut to (H, W). */
static void grow_mask(const float *m, int64_t H, int64_t W, int k, float *out) {
    int64_t pad = (k - 1 + 1) / 2;
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            float s = 0.0f;
            for (int64_t dy = 0; dy < k; dy++)
                for (int64_t dx = 0; dx < k; dx++) {
                    int64_t yy = y + dy - pad, xx = x + dx - pad;
                    if (yy >= 0 && yy < H && xx >= 0 && xx < W) s += rintf(m[yy * W + xx]);
                }
            out[y * W + x] = rintf(s > 1.0f ? 1.0f : s < 0.0f ? 0.0f : s);
        }
}

static int vae_encode_for_inpaint_run(ci_call *c) {
    vae *v = get_vae(c);
    const tensor *px = ci_get_object(c, "pixels", CI_TYPE_IMAGE), *mk = ci_get_object(c, "mask", CI_TYPE_MASK);
    if (!v) return -1;
    if (!px || !mk) return ci_fail(c, "TypeError", "pixels is not an IMAGE or mask is not a MASK");
    int64_t B = px->ne[0], H = px->ne[1], W = px->ne[2], C = px->ne[3];
    int64_t h8 = H / 8 * 8, w8 = W / 8 * 8, oy = (H % 8) / 2, ox = (W % 8) / 2;
    int64_t nm = mk->ndim == 3 ? mk->ne[0] : 1, mh = mk->ne[mk->ndim - 2], mw = mk->ne[mk->ndim - 1];
    char err[512] = "";
    /* The mask at pixel resolution (bilinear), then both cropped to multiples of 8. */
    tensor *src = tensor_view(DT_F32, 4, (int64_t[]){nm, 1, mh, mw}, mk->data);
    tensor *mfull = src ? core_upscale(src, W, H, "bilinear", "disabled", err, sizeof err) : NULL;
    tensor_free(src);
    tensor *pix = tensor_new(DT_F32, 4, (int64_t[]){B, h8, w8, 3});
    tensor *grown = tensor_new(DT_F32, 4, (int64_t[]){nm, 1, h8, w8});
    float *crop = malloc((size_t)(h8 * w8) * sizeof *crop);
    if (!mfull || !pix || !grown || !crop) {
        tensor_free(mfull); tensor_free(pix); tensor_free(grown); free(crop);
        return ci_fail(c, "RuntimeError", "VAEEncodeForInpaint: %s", err[0] ? err : "out of memory");
    }
    const float *m = mfull->data, *p = px->data;
    float *q = pix->data;
    for (int64_t b = 0; b < B; b++)   /* masked pixels -> 0.5 grey */
        for (int64_t y = 0; y < h8; y++)
            for (int64_t x = 0; x < w8; x++) {
                float keep = 1.0f - rintf(m[((b % nm) * H + y + oy) * W + x + ox]);
                for (int64_t ch = 0; ch < 3; ch++) {
                    float val = p[((b * H + y + oy) * W + x + ox) * C + ch];
                    q[((b * h8 + y) * w8 + x) * 3 + ch] = (val - 0.5f) * keep + 0.5f;
                }
            }
    int k = (int)ci_get_int(c, "grow_mask_by");
    for (int64_t i = 0; i < nm; i++) {
        for (int64_t y = 0; y < h8; y++)
            memcpy(crop + y * w8, m + (i * H + y + oy) * W + ox, (size_t)w8 * sizeof *crop);
        float *g = (float *)grown->data + i * h8 * w8;
        if (k == 0) for (int64_t j = 0; j < h8 * w8; j++) g[j] = rintf(crop[j]);
        else grow_mask(crop, h8, w8, k, g);
    }
    free(crop);
    tensor_free(mfull);
    tensor *z = vae_encode(v, pix, err, sizeof err);
    tensor_free(pix);
    ci_latent *l = z ? latent_new(z) : NULL;
    if (!l) {
        tensor_free(grown);
        return ci_fail(c, "RuntimeError", "VAE encode: %s", err[0] ? err : "out of memory");
    }
    l->noise_mask = grown;
    return set_latent(c, 0, l);
}

const ci_node_def core_vae_encode_for_inpaint = {
    .abi_version = CI_ABI_VERSION, .name = "VAEEncodeForInpaint", .display_name = "VAE Encode (for Inpainting)",
    .category = "model/latent",
    .inputs = "{\"required\": {\"pixels\": [\"IMAGE\"], \"vae\": [\"VAE\"], \"mask\": [\"MASK\"], \"grow_mask_by\": [\"INT\", {\"default\": 6, \"min\": 0, \"max\": 64, \"step\": 1}]}}",
    .outputs = latent_out, .n_outputs = 1,
    .run = vae_encode_for_inpaint_run,
};
