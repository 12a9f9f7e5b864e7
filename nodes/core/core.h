/* nodes/core/core.h -- ComfyUI's core nodes: what the files of the pack share.
 *
 * latent.c      EmptyLatentImage, LatentUpscale(By), LatentFromBatch,
 *               RepeatLatentBatch, SetLatentNoiseMask
 * image_ops.c   ImageScale(By), ImageInvert, ImageBatch
 * load_image.c  LoadImage, LoadImageMask
 * save_image.c  SaveImage, PreviewImage
 * save_path.c   ComfyUI's output file naming and counter
 * latent_file.c SaveLatent, LoadLatent
 * resize.c      torch/PIL resampling for images and latents
 * sd.h          the model nodes (checkpoint, CLIP, sampler, VAE, conditioning)
 * pack.c        registers them all, in ComfyUI's order
 */
#ifndef CI_NODES_CORE_H
#define CI_NODES_CORE_H

#include "comfyui_ipex/node.h"
#include "comfyui_ipex/types.h"

int core_pack_init(const ci_host *host);

extern const ci_node_def core_empty_latent_image, core_latent_upscale, core_latent_upscale_by,
    core_latent_from_batch, core_repeat_latent_batch, core_set_latent_noise_mask,
    core_image_scale, core_image_scale_by, core_image_invert, core_image_batch,
    core_load_image, core_load_image_mask, core_save_image, core_preview_image,
    core_save_latent, core_load_latent;

/* LATENT payloads */
ci_latent *latent_new(tensor *samples);           /* takes samples; NULL on OOM */
ci_latent *latent_copy(const ci_latent *l);       /* a new latent sharing nothing */
void latent_free(void *latent);
int set_latent(ci_call *c, int index, ci_latent *l);     /* wraps; frees l on failure */
int set_tensor(ci_call *c, int index, const char *type, tensor *t);
void tensor_free_v(void *t);                            /* tensor_free for destructors */

/* Resampling (resize.c). x (N, C, H, W) f32 -> (N, C, h, w); method is ComfyUI's name
 * (nearest-exact, bilinear, area, bicubic, lanczos, bislerp); crop "disabled" or
 * "center". NULL with a message in err on failure. */
tensor *core_upscale(const tensor *x, int64_t w, int64_t h, const char *method,
                     const char *crop, char *err, size_t errlen);
/* One 8-bit plane (h, w) -> (oh, ow) resampled bit for bit as PIL's Image.resize does
 * each channel with that filter. 0, or -1 out of memory. */
typedef enum { PIL_BILINEAR, PIL_LANCZOS } pil_filter;
int pil_resample_plane(const unsigned char *in, int h, int w, unsigned char *out, int oh, int ow,
                       pil_filter f);
/* (B, H, W, C) <-> (B, C, H, W) */
tensor *nhwc_to_nchw(const tensor *x);
tensor *nchw_to_nhwc(const tensor *x);
/* The real path of a node's file name (optionally annotated " [input]", " [output]",
 * " [temp]"; input by default), confined to that folder. 0, or -1 if missing/outside. */
int core_annotated_path(const ci_host *host, const char *name, char *out, size_t outlen);

/* Output naming (save_path.c): dir is the folder to write to, name the file stem,
 * subfolder the relative folder for UI results, counter the first free number.
 * Returns 0, or -1 after ci_fail(). */
typedef struct save_path {
    char dir[4096];
    const char *name, *subfolder;
    int64_t counter;
    char *norm;                 /* storage for name and subfolder */
} save_path;
int save_path_make(ci_call *c, ci_dir where, const char *prefix, int64_t w, int64_t h, save_path *sp);
void save_path_free(save_path *sp);

/* PNG/latent metadata: "prompt" and each extra_pnginfo key as Python-style JSON, none
 * with --disable-metadata. Fills kv (texts malloc'd); returns the count. */
struct png_text_kv;
int core_metadata(ci_call *c, struct png_text_kv *kv, int max);

/* SHA-256 hex of the file an input names (IS_CHANGED of the loaders), NULL if none. */
char *core_file_sha256(ci_call *c, const char *input);

/* Python's round(): half to even. */
int64_t py_round(double v);

#endif
