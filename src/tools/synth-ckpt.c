/* synth-ckpt -- writes a synthetic checkpoint (format "synthetic-ckpt v1").
 *
 *   synth-ckpt --keys KEYS.tsv --seed S --out FILE.safetensors
 *
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

static int usage(void) {
    fprintf(stderr, "usage: synth-ckpt --keys KEYS.tsv --seed S --out FILE.safetensors\n");
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

int main(int argc, char **argv) {
    const char *keys = NULL, *out = NULL, *seed_s = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--keys")) keys = argv[i + 1];
        else if (!strcmp(argv[i], "--seed")) seed_s = argv[i + 1];
        else if (!strcmp(argv[i], "--out")) out = argv[i + 1];
        else return usage();
    }
    if (!keys || !out || !seed_s || argc % 2 == 0) return usage();
    char *end;
    errno = 0;
    unsigned long long seed = strtoull(seed_s, &end, 10);
    if (*end || end == seed_s || errno || seed_s[0] == '-') {
        fprintf(stderr, "synth-ckpt: --seed must be an unsigned 64-bit integer\n");
        return 2;
    }
    char err[512];
    synth_keys k;
    if (synth_keys_load(keys, &k, err, sizeof err)) {
        fprintf(stderr, "synth-ckpt: %s\n", err);
        return 1;
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
