/* synth-ckpt -- writes a synthetic checkpoint (format "synthetic-ckpt v1").
 *
 *   synth-ckpt --model sd15 --seed S --out FILE.safetensors
 *   synth-ckpt --keys KEYS.tsv --seed S --out FILE.safetensors
 *   synth-ckpt --model sd15 --list      (the key list, in keys.tsv's format, to stdout)
 *
 * --model takes the layout from our own model code (models/sd15_keys.h); --keys from a
 * key list file.
 * Also writes FILE.safetensors.sha256 ("<hex>  <name>", sha256sum's format) with the
 * digest computed while streaming, so tests can trust an existing file without
 * hashing 2 GB again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/synth.h"
#include "models/sd15_keys.h"

static int usage(void) {
    fprintf(stderr, "usage: synth-ckpt (--model sd15 | --keys KEYS.tsv) --seed S --out FILE.safetensors\n"
                    "       synth-ckpt (--model sd15 | --keys KEYS.tsv) --list\n");
    return 2;
}

static int write_digest(const char *out, const uint8_t sha[32]) {
    char path[4096];
    snprintf(path, sizeof path, "%s.sha256", out);
    const char *base = strrchr(out, '/');
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    for (int i = 0; i < 32; i++) fprintf(f, "%02x", sha[i]);
    fprintf(f, "  %s\n", base ? base + 1 : out);
    return fclose(f);
}

static void print_keys(const synth_keys *k) {
    for (size_t i = 0; i < k->n; i++) {
        const st_item *it = &k->items[i];
        printf("%s\t%s\t", it->name, dtype_name(it->dt));
        for (int d = 0; d < it->ndim; d++) printf("%s%lld", d ? "," : "", (long long)it->ne[d]);
        printf("\n");
    }
}

int main(int argc, char **argv) {
    const char *keys = NULL, *model = NULL, *out = NULL, *seed_s = NULL;
    int list = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--list")) { list = 1; continue; }
        if (i + 1 == argc) return usage();
        if (!strcmp(argv[i], "--keys")) keys = argv[++i];
        else if (!strcmp(argv[i], "--model")) model = argv[++i];
        else if (!strcmp(argv[i], "--seed")) seed_s = argv[++i];
        else if (!strcmp(argv[i], "--out")) out = argv[++i];
        else return usage();
    }
    if (!keys == !model || (!list && (!out || !seed_s))) return usage();
    if (model && strcmp(model, "sd15")) {
        fprintf(stderr, "synth-ckpt: unknown model '%s' (known: sd15)\n", model);
        return 2;
    }
    char err[512];
    synth_keys k;
    if (keys ? synth_keys_load(keys, &k, err, sizeof err) : sd15_keys(&k, err, sizeof err)) {
        fprintf(stderr, "synth-ckpt: %s\n", err);
        return 1;
    }
    if (list) {
        print_keys(&k);
        synth_keys_free(&k);
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long seed = strtoull(seed_s, &end, 10);
    if (*end || end == seed_s || errno || seed_s[0] == '-') {
        fprintf(stderr, "synth-ckpt: --seed must be an unsigned 64-bit integer\n");
        synth_keys_free(&k);
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint8_t sha[32];
    int rc = synth_write(&k, seed, out, sha, err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    synth_keys_free(&k);
    if (rc || write_digest(out, sha)) {
        fprintf(stderr, "synth-ckpt: %s\n", rc ? err : "cannot write the .sha256 file");
        remove(out);
        return 1;
    }
    printf("%s: ", out);
    for (int i = 0; i < 32; i++) printf("%02x", sha[i]);
    printf(" (%.2f s)\n", (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
    return 0;
}
