/* test_synth.c -- synthetic-ckpt v1 against the reference hashes.
 *
 * The small tests regenerate single tensors in memory and compare their sha256 with
 * shared/fixtures/sd15/synth_sha256.tsv. The big one checks the full SD1.5 file that
 * `make` builds as $BUILD/sd15-synth.safetensors: size, whole-file sha256 (from the
 * .sha256 file synth-ckpt wrote, when it is not older than the checkpoint) and, read
 * back through ckpt_open, every tensor's sha256. The SD1.5 layout our model code derives
 * (models/sd15_keys.h) must equal keys.tsv line for line, and hashing the file it
 * defines (streamed, nothing written) must give the reference sha256.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/ckpt.h"
#include "io/synth.h"
#include "models/sd15_keys.h"

#define SD15_SEED 20261126ULL
#define SD15_SIZE 2132625974LL
/* shared/fixtures/sd15/README.md: the file's sha256. */
#define SD15_SHA256 "00cfed1f924a4730bb4d2492e1a3741fb728181e800bde4caff63de894d520c6"

static char shared_path[1024];

static const char *fixture(const char *name) {
    const char *shared = getenv("SHARED") ? getenv("SHARED") : "../shared";
    snprintf(shared_path, sizeof shared_path, "%s/fixtures/sd15/%s", shared, name);
    return shared_path;
}

static void sha_hex(const void *p, size_t n, char out[65]) {
    uint8_t d[32];
    unsigned len = 0;
    EVP_Digest(p, n, d, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

/* The expected hash of `name` from synth_sha256.tsv, or NULL. */
static char *expected_hash(const char *name) {
    FILE *f = fopen(fixture("synth_sha256.tsv"), "r");
    assert_non_null(f);
    char line[1024];
    static char hex[65];
    char *found = NULL;
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *tab = strchr(line, '\t');
        if (line[0] != '#' && tab && strcmp(tab + 1, name) == 0) {
            memcpy(hex, line, 64);
            hex[64] = 0;
            found = hex;
        }
    }
    fclose(f);
    return found;
}

static synth_keys keys;

static int load_keys(void **state) {
    (void)state;
    char err[512];
    if (synth_keys_load(fixture("keys.tsv"), &keys, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int free_keys(void **state) {
    (void)state;
    synth_keys_free(&keys);
    return 0;
}

static const st_item *key(const char *name) {
    for (size_t i = 0; i < keys.n; i++)
        if (strcmp(keys.items[i].name, name) == 0) return &keys.items[i];
    fail_msg("no key %s", name);
    return NULL;
}

/* Generates one tensor in two uneven slices (exercising the closed-form offsets). */
static void check_tensor(const char *name) {
    const st_item *it = key(name);
    uint64_t n = 1;
    for (int d = 0; d < it->ndim; d++) n *= (uint64_t)it->ne[d];
    size_t es = dtype_size(it->dt);
    uint8_t *buf = malloc(n * es);
    uint64_t cut = n / 3;
    assert_int_equal(synth_fill(it, SD15_SEED, 0, cut, buf), 0);
    assert_int_equal(synth_fill(it, SD15_SEED, cut, n - cut, buf + cut * es), 0);
    char hex[65];
    sha_hex(buf, n * es, hex);
    free(buf);
    const char *want = expected_hash(name);
    assert_non_null(want);
    assert_string_equal(hex, want);
}

static void test_keys_file(void **state) {
    (void)state;
    assert_int_equal(keys.n, 1131);
    uint64_t elems = 0;
    for (size_t i = 0; i < keys.n; i++) {
        uint64_t n = 1;
        for (int d = 0; d < keys.items[i].ndim; d++) n *= (uint64_t)keys.items[i].ne[d];
        elems += n;
    }
    assert_int_equal(elems, 1066235384ULL);
}

static void test_each_rule_matches_reference(void **state) {
    (void)state;
    check_tensor("cond_stage_model.transformer.text_model.embeddings.position_ids");     /* I64 */
    check_tensor("cond_stage_model.transformer.text_model.embeddings.position_embedding.weight");
    check_tensor("cond_stage_model.transformer.text_model.encoder.layers.0.layer_norm1.weight");
    check_tensor("cond_stage_model.transformer.text_model.encoder.layers.0.layer_norm1.bias");
    check_tensor("model.diffusion_model.input_blocks.0.0.weight");                        /* conv */
    check_tensor("model.diffusion_model.input_blocks.0.0.bias");
}

static void test_bool_has_no_values(void **state) {
    (void)state;
    st_item it = {"mask", DT_BOOL, 1, {4}};
    uint8_t out[4];
    assert_int_equal(synth_fill(&it, 1, 0, 4, out), -1);
}

static void test_int_index_along_last_axis(void **state) {
    (void)state;
    st_item it = {"ids", DT_I32, 2, {2, 3}};
    int32_t out[6];
    assert_int_equal(synth_fill(&it, 5, 0, 6, out), 0);
    int32_t want[6] = {0, 1, 2, 0, 1, 2};
    assert_memory_equal(out, want, sizeof want);
}

/* Whole-file sha256: the digest synth-ckpt stored, if it is not older than the file. */
static void file_digest(const char *path, char hex[65]) {
    char side[1100];
    snprintf(side, sizeof side, "%s.sha256", path);
    struct stat a, b;
    FILE *f = stat(path, &a) == 0 && stat(side, &b) == 0 && b.st_mtime >= a.st_mtime
                  ? fopen(side, "r") : NULL;
    if (f && fscanf(f, "%64s", hex) == 1 && strlen(hex) == 64) { fclose(f); return; }
    if (f) fclose(f);
    FILE *raw = fopen(path, "rb");
    assert_non_null(raw);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    static uint8_t buf[1 << 20];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, raw)) > 0) EVP_DigestUpdate(md, buf, n);
    uint8_t d[32];
    EVP_DigestFinal_ex(md, d, NULL);
    EVP_MD_CTX_free(md);
    fclose(raw);
    for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", d[i]);
}

static void test_sd15_file(void **state) {
    (void)state;
    char path[1024], hex[65];
    snprintf(path, sizeof path, "%s/sd15-synth.safetensors", getenv("BUILD") ? getenv("BUILD") : "build");
    struct stat st;
    if (stat(path, &st) != 0) fail_msg("%s missing: `make` builds it (target sd15-synth)", path);
    assert_int_equal(st.st_size, SD15_SIZE);
    file_digest(path, hex);
    assert_string_equal(hex, SD15_SHA256);

    char *err = NULL;
    ckpt *c = ckpt_open(path, &err);
    if (!c) fail_msg("%s", err);
    assert_int_equal(ckpt_count(c), keys.n);
    assert_string_equal(ckpt_meta(c, "synthetic"), "synthetic-ckpt v1");
    assert_string_equal(ckpt_meta(c, "seed"), "20261126");
    FILE *f = fopen(fixture("synth_sha256.tsv"), "r");
    char line[1024];
    size_t i = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        line[strcspn(line, "\r\n")] = 0;
        assert_true(i < ckpt_count(c));
        assert_string_equal(strchr(line, '\t') + 1, ckpt_key(c, i));
        const tensor *t = ckpt_at(c, i);
        sha_hex(t->data, t->nbytes, hex);
        line[64] = 0;
        if (strcmp(hex, line) != 0) fail_msg("tensor %s: sha256 %s, expected %s", ckpt_key(c, i), hex, line);
        i++;
    }
    fclose(f);
    assert_int_equal(i, keys.n);
    ckpt_close(c);
}

static void test_sd15_keys_derived_equal_fixture(void **state) {
    (void)state;
    synth_keys derived;
    char err[512];
    if (sd15_keys(&derived, err, sizeof err)) fail_msg("%s", err);
    for (size_t i = 0; i < derived.n && i < keys.n; i++) {
        const st_item *a = &derived.items[i], *b = &keys.items[i];
        if (strcmp(a->name, b->name) != 0)
            fail_msg("line %zu: derived %s, keys.tsv %s", i + 1, a->name, b->name);
        assert_int_equal(a->dt, b->dt);
        assert_int_equal(a->ndim, b->ndim);
        assert_memory_equal(a->ne, b->ne, sizeof(int64_t) * (size_t)a->ndim);
    }
    assert_int_equal(derived.n, keys.n);
    synth_keys_free(&derived);
}

static void test_sd15_keys_derived_file_hash(void **state) {
    (void)state;
    synth_keys derived;
    char err[512], hex[65];
    if (sd15_keys(&derived, err, sizeof err)) fail_msg("%s", err);
    uint8_t sha[32];
    if (synth_write(&derived, SD15_SYNTH_SEED, NULL, sha, err, sizeof err)) fail_msg("%s", err);
    synth_keys_free(&derived);
    for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", sha[i]);
    assert_string_equal(hex, SD15_SHA256);
}

static void test_keys_sort_safetensors_order(void **state) {
    (void)state;
    synth_keys k = {0};
    const int64_t one[1] = {1};
    assert_int_equal(synth_keys_add(&k, "b", DT_F16, 1, one), 0);
    assert_int_equal(synth_keys_add(&k, "a", DT_F16, 1, one), 0);
    assert_int_equal(synth_keys_add(&k, "z", DT_I64, 1, one), 0);
    assert_int_equal(synth_keys_add(&k, "B", DT_F32, 1, one), 0);
    synth_keys_sort(&k);
    const char *want[] = {"z", "B", "a", "b"};   /* I64, F32, then F16 by byte order */
    for (int i = 0; i < 4; i++) assert_string_equal(k.items[i].name, want[i]);
    synth_keys_free(&k);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_file),
        cmocka_unit_test(test_each_rule_matches_reference),
        cmocka_unit_test(test_bool_has_no_values),
        cmocka_unit_test(test_int_index_along_last_axis),
        cmocka_unit_test(test_sd15_file),
        cmocka_unit_test(test_keys_sort_safetensors_order),
        cmocka_unit_test(test_sd15_keys_derived_equal_fixture),
        cmocka_unit_test(test_sd15_keys_derived_file_hash),
    };
    return cmocka_run_group_tests(tests, load_keys, free_keys);
}
