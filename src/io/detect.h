/* detect.h -- which model a checkpoint holds, from its key names and shapes, the way
 * ComfyUI's model_detection.py decides it.
 *
 * The UNet is found under the prefix with the most keys among "model.diffusion_model."
 * (LDM/SGM checkpoints), "model.model." and "net." (more than 5 keys), or at the top
 * level for UNet-only files. Walking its input/output blocks yields a unet_config
 * (channels, levels, transformer depths, context dim, ...), which is matched, first
 * match wins, against the families ComfyUI knows in ComfyUI's order; the family then
 * fixes the head layout, the prediction type (SD2: eps vs v by the spread of one
 * norm bias; SDXL: marker keys), the latent scale and where its VAE and text encoders
 * live in the file. Anything else is an error naming the layout that was found.
 */
#ifndef CI_IO_DETECT_H
#define CI_IO_DETECT_H

#include <stddef.h>

#include "io/ckpt.h"

#define MD_MAX_LEVELS 8
#define MD_MAX_BLOCKS 32

typedef struct unet_config {
    int in_channels;                   /* 4; 9 inpainting; 8 instruct-pix2pix */
    int out_channels;
    int model_channels;                /* 320 (SDXL refiner 384) */
    int adm_in_channels;               /* label_emb input (SDXL 2816, refiner 2560), 0: none */
    int context_dim;                   /* cross-attention context width (768/1024/2048/1280) */
    int use_linear_in_transformer;     /* proj_in/proj_out Linear (SD2, SDXL) vs 1x1 conv (SD1) */
    int num_levels;                    /* len(channel_mult) */
    int channel_mult[MD_MAX_LEVELS];
    int num_res_blocks[MD_MAX_LEVELS];
    int n_transformer_depth;           /* one per input ResBlock, in block order */
    int transformer_depth[MD_MAX_BLOCKS];
    int n_transformer_depth_output;    /* one per output block, in the order ComfyUI lists */
    int transformer_depth_output[MD_MAX_BLOCKS];   /* them (it consumes from the end) */
    int transformer_depth_middle;      /* -1: middle is one ResBlock only, -2: no middle */
    int num_heads;                     /* fixed head count (SD1: 8), or -1 */
    int num_head_channels;             /* fixed head width (SD2/SDXL: 64), or -1 */
} unet_config;

typedef enum { MODEL_SD15, MODEL_SD20, MODEL_SDXL, MODEL_SDXL_REFINER } model_family;

typedef enum {
    PRED_EPS,          /* SD1, SD2-base, SDXL */
    PRED_V,            /* SD2-768, v-pred SDXL finetunes */
    PRED_EDM,          /* Playground 2.5 (edm_mean/edm_std keys) */
    PRED_V_EDM,        /* edm_vpred.sigma_max key */
} prediction;

typedef struct model_config {
    model_family family;
    const char *name;                  /* ComfyUI's class name: "SD15", "SD20", "SDXL", ... */
    unet_config unet;
    prediction pred;
    int zsnr;                          /* zero-terminal-SNR sigmas ("ztsnr" key) */
    int inpaint;                       /* in_channels 9: concat mask + masked image */
    int pix2pix;                       /* in_channels 8: concat the input image latent */
    float latent_scale;                /* 0.18215 (SD1/SD2), 0.13025 (SDXL) */
    char unet_prefix[32];              /* "model.diffusion_model.", or "" */
    char vae_prefix[32];               /* "first_stage_model.", or "" when the file has none */
    /* Text encoders, "" when absent. clip_l: HF CLIPTextModel names (SD1, SDXL);
     * clip_h (SD2) and clip_g (SDXL): OpenCLIP names (token_embedding.weight, ...). */
    char clip_l_prefix[64];
    char clip_h_prefix[64];
    char clip_g_prefix[64];
} model_config;

/* 0, or -1 with a message in err naming what was found. */
int model_detect(const ckpt *c, model_config *out, char *err, size_t errlen);
/* The structural part alone, for a UNet under `prefix` (detect_unet_config). */
int model_detect_unet(const ckpt *c, const char *prefix, unet_config *out, char *err,
                      size_t errlen);
const char *prediction_name(prediction p);   /* "eps", "v", "edm", "v_edm" */

#endif
