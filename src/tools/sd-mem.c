/* sd-mem.c -- time and peak memory of one UNet step or one VAE decode/encode.
 *
 *   build/sd-mem [--ckpt FILE] [--size PX] [--batch N] [--bf16] [--tile PX]
 *                unet | vae-decode | vae-encode | vae-decode-tiled
 *
 * One part per process, so the peak RSS printed (getrusage) is that part's: the weights
 * it holds plus the activations of one call. Inputs are deterministic pseudo-random
 * values; the synthetic checkpoint (build/sd15-synth.safetensors) is the default model.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "backend/backend.h"
#include "io/ckpt.h"
#include "models/unet.h"
#include "models/vae.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;   /* KiB on Linux */
}

static tensor *filled(int ndim, const int64_t *ne, float lo, float hi) {
    tensor *t = tensor_new(DT_F32, ndim, ne);
    if (!t) return NULL;
    float *d = t->data;
    uint32_t s = 12345;
    for (int64_t i = 0; i < tensor_numel(t); i++) {
        s = s * 1664525u + 1013904223u;
        d[i] = lo + (hi - lo) * (float)(s >> 8) / 16777216.0f;
    }
    return t;
}

static int run_unet(const ckpt *ck, int px, int batch, char *err, size_t errlen) {
    model_config mc;
    if (model_detect(ck, &mc, err, errlen)) return -1;
    const unet_config *cfg = &mc.unet;
    double t0 = now();
    unet *u = unet_load(ck, mc.unet_prefix, cfg, err, errlen);
    if (!u) return -1;
    double t1 = now();
    int64_t h = px / 8;
    tensor *x = filled(4, (int64_t[]){batch, 4, h, h}, -1, 1);
    tensor *ts = filled(1, (int64_t[]){batch}, 500, 500);
    tensor *ctx = filled(3, (int64_t[]){batch, 77, cfg->context_dim}, -1, 1);
    tensor *out = tensor_new(DT_F32, 4, (int64_t[]){batch, 4, h, h});
    int rc = x && ts && ctx && out ? unet_forward(u, x, ts, ctx, NULL, out, err, errlen) : -1;
    double t2 = now();
    if (!rc)
        printf("unet %dx%d batch %d: load %.1f s, step %.2f s, weights %.0f MiB, activations "
               "peak %.0f MiB, peak RSS %.0f MiB\n", px, px, batch, t1 - t0, t2 - t1,
               unet_weight_bytes(u) / 1048576.0, unet_activation_peak(u) / 1048576.0,
               peak_rss_mib());
    tensor_free(x);
    tensor_free(ts);
    tensor_free(ctx);
    tensor_free(out);
    unet_free(u);
    return rc;
}

static int run_vae(const ckpt *ck, const char *part, int px, int batch, int tile, char *err,
                   size_t errlen) {
    model_config mc;
    if (model_detect(ck, &mc, err, errlen)) return -1;
    vae_config cfg = vae_config_sd();
    double t0 = now();
    vae *v = vae_load(ck, mc.vae_prefix, &cfg, err, errlen);
    if (!v) return -1;
    double t1 = now();
    int64_t h = px / 8;
    tensor *in, *out = NULL;
    if (!strcmp(part, "vae-encode")) {
        in = filled(4, (int64_t[]){batch, px, px, 3}, 0, 1);
        if (in) out = vae_encode(v, in, err, errlen);
    } else {
        in = filled(4, (int64_t[]){batch, 4, h, h}, -1, 1);
        if (in && !strcmp(part, "vae-decode")) out = vae_decode(v, in, err, errlen);
        else if (in) out = vae_decode_tiled(v, in, tile / 8, tile / 8, tile / 32, err, errlen);
    }
    double t2 = now();
    if (out)
        printf("%s %dx%d batch %d%s: load %.1f s, call %.2f s, weights %.0f MiB, activations "
               "peak %.0f MiB, peak RSS %.0f MiB\n", part, px, px, batch,
               strcmp(part, "vae-decode-tiled") ? "" : " (tiles)", t1 - t0, t2 - t1,
               vae_weight_bytes(v) / 1048576.0, vae_activation_peak(v) / 1048576.0,
               peak_rss_mib());
    int rc = out ? 0 : -1;
    tensor_free(in);
    tensor_free(out);
    vae_free(v);
    return rc;
}

int main(int argc, char **argv) {
    const char *path = "build/sd15-synth.safetensors";
    int px = 512, batch = 1, bf16 = 0, tile = 512, batch_set = 0;
    static const struct option opts[] = {
        {"ckpt", required_argument, 0, 'c'}, {"size", required_argument, 0, 's'},
        {"batch", required_argument, 0, 'b'}, {"bf16", no_argument, 0, 'f'},
        {"tile", required_argument, 0, 't'}, {0, 0, 0, 0}};
    for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (o == 'c') path = optarg;
        else if (o == 's') px = atoi(optarg);
        else if (o == 'b') batch = atoi(optarg), batch_set = 1;
        else if (o == 'f') bf16 = 1;
        else if (o == 't') tile = atoi(optarg);
        else return 2;
    }
    const char *part = optind < argc ? argv[optind] : "";
    int is_unet = !strcmp(part, "unet");
    if ((!is_unet && strcmp(part, "vae-decode") && strcmp(part, "vae-encode") &&
         strcmp(part, "vae-decode-tiled")) || px < 64 || px % 64 || batch < 1 || tile < 64) {
        fprintf(stderr, "usage: sd-mem [--ckpt FILE] [--size PX (multiple of 64)] [--batch N] "
                "[--bf16] [--tile PX] unet|vae-decode|vae-encode|vae-decode-tiled\n");
        return 2;
    }
    if (is_unet && !batch_set) batch = 2;   /* cond + uncond, as a CFG step runs it */
    char err[512];
    backend_config cfg = {.accel = ACCEL_CPU, .opt = OPT_O1, .prec = bf16 ? PREC_BF16 : PREC_FP32};
    if (backend_init(&cfg, err, sizeof(err))) {
        fprintf(stderr, "sd-mem: %s\n", err);
        return 1;
    }
    char *cerr = NULL;
    ckpt *ck = ckpt_open(path, &cerr);
    if (!ck) {
        fprintf(stderr, "sd-mem: %s\n", cerr);
        free(cerr);
        return 1;
    }
    int rc = is_unet ? run_unet(ck, px, batch, err, sizeof(err))
                     : run_vae(ck, part, px, batch, tile, err, sizeof(err));
    if (rc) fprintf(stderr, "sd-mem: %s\n", err);
    ckpt_close(ck);
    backend_shutdown();
    return rc ? 1 : 0;
}
