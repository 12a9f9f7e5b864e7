/* ckpt-info -- what a checkpoint file holds, and what opening it costs.
 *
 *   ckpt-info [--keys] [--touch[=PREFIX]] FILE
 *
 * Prints the format, tensor count and bytes, the safetensors metadata and the model
 * detection result (family, prediction, UNet config, component prefixes). --keys
 * lists every tensor (name, dtype, shape). --touch then reads every tensor byte, as a
 * model load that widens all weights would (--touch=PREFIX: only the tensors under
 * PREFIX, e.g. the text encoder). Each phase reports wall time and the process's peak
 * RSS, which shows that opening maps the file without reading it and that memory
 * follows what is read.
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "io/ckpt.h"
#include "io/detect.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

static void print_list(const char *label, const int *v, int n) {
    printf("  %s [", label);
    for (int i = 0; i < n; i++) printf("%s%d", i ? "," : "", v[i]);
    printf("]\n");
}

static void print_detection(const ckpt *c) {
    model_config mc;
    char err[512];
    if (model_detect(c, &mc, err, sizeof err)) { printf("model: %s\n", err); return; }
    const unet_config *u = &mc.unet;
    printf("model: %s, prediction %s%s, latent scale %g%s%s\n", mc.name, prediction_name(mc.pred),
           mc.zsnr ? " (zsnr)" : "", mc.latent_scale, mc.inpaint ? ", inpainting" : "",
           mc.pix2pix ? ", instruct-pix2pix" : "");
    printf("  unet '%s': in %d out %d channels %d context %d adm %d linear %d heads %d head_dim %d middle %d\n",
           mc.unet_prefix, u->in_channels, u->out_channels, u->model_channels, u->context_dim,
           u->adm_in_channels, u->use_linear_in_transformer, u->num_heads, u->num_head_channels,
           u->transformer_depth_middle);
    print_list("channel_mult", u->channel_mult, u->num_levels);
    print_list("num_res_blocks", u->num_res_blocks, u->num_levels);
    print_list("transformer_depth", u->transformer_depth, u->n_transformer_depth);
    print_list("transformer_depth_output", u->transformer_depth_output, u->n_transformer_depth_output);
    printf("  vae '%s' clip_l '%s' clip_h '%s' clip_g '%s'\n", mc.vae_prefix, mc.clip_l_prefix,
           mc.clip_h_prefix, mc.clip_g_prefix);
}

int main(int argc, char **argv) {
    int keys = 0, touch = 0;
    const char *path = NULL, *touch_prefix = "";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--keys")) keys = 1;
        else if (!strcmp(argv[i], "--touch")) touch = 1;
        else if (!strncmp(argv[i], "--touch=", 8)) { touch = 1; touch_prefix = argv[i] + 8; }
        else if (!path && argv[i][0] != '-') path = argv[i];
        else { path = NULL; break; }
    }
    if (!path) {
        fprintf(stderr, "usage: ckpt-info [--keys] [--touch[=PREFIX]] FILE\n");
        return 2;
    }
    double t0 = now();
    char *err = NULL;
    ckpt *c = ckpt_open(path, &err);
    if (!c) {
        fprintf(stderr, "ckpt-info: %s\n", err);
        return 1;
    }
    double t1 = now();
    size_t bytes = 0;
    for (size_t i = 0; i < ckpt_count(c); i++) bytes += ckpt_at(c, i)->nbytes;
    printf("%s: %s, %zu tensors, %zu tensor bytes, file %zu bytes\n", path,
           ckpt_format_name(ckpt_get_format(c)), ckpt_count(c), bytes, ckpt_file_size(c));
    printf("open: %.3f s, peak RSS %.1f MiB\n", t1 - t0, peak_rss_mib());
    for (size_t i = 0; i < ckpt_meta_count(c); i++) {
        const char *k, *v;
        ckpt_meta_at(c, i, &k, &v);
        printf("meta %s = %s\n", k, v);
    }
    print_detection(c);
    for (size_t i = 0; keys && i < ckpt_count(c); i++) {
        const tensor *t = ckpt_at(c, i);
        printf("%s\t%s\t", ckpt_key(c, i), dtype_name(t->dt));
        for (int d = 0; d < t->ndim; d++) printf("%s%lld", d ? "," : "", (long long)t->ne[d]);
        printf("\n");
    }
    if (touch) {
        double t2 = now();
        uint64_t sum = 0, n = ckpt_count(c), touched = 0;
        for (size_t i = ckpt_next(c, touch_prefix, 0); i < n; i = ckpt_next(c, touch_prefix, i + 1)) {
            const tensor *t = ckpt_at(c, i);
            touched += t->nbytes;
            const uint8_t *p = t->data;
            for (size_t b = 0; b < t->nbytes; b += 64) sum += p[b];    /* one byte per line */
        }
        printf("touch %.1f MiB under '%s': %.3f s, peak RSS %.1f MiB (checksum %llu)\n",
               touched / 1048576.0, touch_prefix, now() - t2, peak_rss_mib(), (unsigned long long)sum);
    }
    ckpt_close(c);
    return 0;
}
