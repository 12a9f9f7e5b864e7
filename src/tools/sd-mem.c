/* sd-mem.c -- time and peak memory of one UNet step or one VAE decode/encode.
 *
 *   build/sd-mem [--ckpt FILE] [--size PX] [--batch N] [--bf16] [--tile PX] [--overlap PX]
 *                unet | vae-decode | vae-encode | vae-decode-tiled
 *
 * vae-decode-tiled uses VAEDecodeTiled's pixel sizes (default tile 512, overlap 64).
 *
 * One part per process. Two peaks are printed: while loading (the mapped checkpoint
 * pages plus the weights being converted), and during the call alone, measured after the
 * checkpoint is closed and the kernel's high-water mark is reset (/proc/self/clear_refs),
 * i.e. the weights held plus the activations of one call. Inputs are deterministic
 * pseudo-random values; the synthetic checkpoint (build/sd15-synth.safetensors) is the
 * default model.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* VmHWM of this process in MiB, or -1 when /proc is not readable. */
static double peak_rss_mib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %lf kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib / 1024.0;
}

/* Start a new high-water mark (Linux >= 4.0: writing 5 to clear_refs). */
static void peak_rss_reset(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
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

static int run_unet(ckpt *ck, int px, int batch, char *err, size_t errlen) {
    model_config mc;
    if (model_detect(ck, &mc, err, errlen)) return -1;
    const unet_config *cfg = &mc.unet;
    double t0 = now();
    unet *u = unet_load(ck, mc.unet_prefix, cfg, err, errlen);
    ckpt_close(ck);
    if (!u) return -1;
    double t1 = now(), load_peak = peak_rss_mib();
    peak_rss_reset();
    int64_t h = px / 8;
    tensor *x = filled(4, (int64_t[]){batch, 4, h, h}, -1, 1);
    tensor *ts = filled(1, (int64_t[]){batch}, 500, 500);
    tensor *ctx = filled(3, (int64_t[]){batch, 77, cfg->context_dim}, -1, 1);
    tensor *out = tensor_new(DT_F32, 4, (int64_t[]){batch, 4, h, h});
    int rc = x && ts && ctx && out ? unet_forward(u, x, ts, ctx, NULL, out, err, errlen) : -1;
    double t2 = now();
    if (!rc)
        printf("unet %dx%d batch %d: load %.1f s (peak RSS %.0f MiB), step %.2f s, weights "
               "%.0f MiB, activations peak %.0f MiB, peak RSS during the step %.0f MiB\n", px,
               px, batch, t1 - t0, load_peak, t2 - t1, unet_weight_bytes(u) / 1048576.0,
               unet_activation_peak(u) / 1048576.0, peak_rss_mib());
    tensor_free(x);
    tensor_free(ts);
    tensor_free(ctx);
    tensor_free(out);
    unet_free(u);
    return rc;
}

static int run_vae(ckpt *ck, const char *part, int px, int batch, int tile, int overlap, char *err,
                   size_t errlen) {
    model_config mc;
    if (model_detect(ck, &mc, err, errlen)) return -1;
    vae_config cfg = vae_config_sd();
    double t0 = now();
    vae *v = vae_load(ck, mc.vae_prefix, &cfg, err, errlen);
    ckpt_close(ck);
    if (!v) return -1;
    double t1 = now(), load_peak = peak_rss_mib();
    peak_rss_reset();
    int64_t h = px / 8;
    tensor *in, *out = NULL;
    if (!strcmp(part, "vae-encode")) {
        in = filled(4, (int64_t[]){batch, px, px, 3}, 0, 1);
        if (in) out = vae_encode(v, in, err, errlen);
    } else {
        in = filled(4, (int64_t[]){batch, 4, h, h}, -1, 1);
        if (in && !strcmp(part, "vae-decode")) out = vae_decode(v, in, err, errlen);
        else if (in) out = vae_decode_tiled(v, in, tile / 8, tile / 8, overlap / 8, err, errlen);
    }
    double t2 = now();
    if (out)
        printf("%s %dx%d batch %d: load %.1f s (peak RSS %.0f MiB), call %.2f s, weights "
               "%.0f MiB, activations peak %.0f MiB, peak RSS during the call %.0f MiB\n", part,
               px, px, batch, t1 - t0, load_peak, t2 - t1, vae_weight_bytes(v) / 1048576.0,
               vae_activation_peak(v) / 1048576.0, peak_rss_mib());
    int rc = out ? 0 : -1;
    tensor_free(in);
    tensor_free(out);
    vae_free(v);
    return rc;
}

int main(int argc, char **argv) {
    const char *path = "build/sd15-synth.safetensors";
    int px = 512, batch = 1, bf16 = 0, tile = 512, overlap = 64, batch_set = 0;
    static const struct option opts[] = {
        {"ckpt", required_argument, 0, 'c'}, {"size", required_argument, 0, 's'},
        {"batch", required_argument, 0, 'b'}, {"bf16", no_argument, 0, 'f'},
        {"tile", required_argument, 0, 't'}, {"overlap", required_argument, 0, 'o'},
        {0, 0, 0, 0}};
    for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (o == 'c') path = optarg;
        else if (o == 's') px = atoi(optarg);
        else if (o == 'b') batch = atoi(optarg), batch_set = 1;
        else if (o == 'f') bf16 = 1;
        else if (o == 't') tile = atoi(optarg);
        else if (o == 'o') overlap = atoi(optarg);
        else return 2;
    }
    const char *part = optind < argc ? argv[optind] : "";
    int is_unet = !strcmp(part, "unet");
    if ((!is_unet && strcmp(part, "vae-decode") && strcmp(part, "vae-encode") &&
         strcmp(part, "vae-decode-tiled")) || px < 64 || px % 64 || batch < 1 || tile < 64 ||
        overlap < 0 || overlap * 4 > tile) {
        fprintf(stderr, "usage: sd-mem [--ckpt FILE] [--size PX (multiple of 64)] [--batch N] "
                "[--bf16] [--tile PX] [--overlap PX (at most tile/4)] "
                "unet|vae-decode|vae-encode|vae-decode-tiled\n");
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
    /* The runners close ck once the weights are copied out of it. */
    int rc = is_unet ? run_unet(ck, px, batch, err, sizeof(err))
                     : run_vae(ck, part, px, batch, tile, overlap, err, sizeof(err));
    if (rc) fprintf(stderr, "sd-mem: %s\n", err);
    backend_shutdown();
    return rc ? 1 : 0;
}
