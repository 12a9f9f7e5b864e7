/* test_corrupt.c -- damaged checkpoints: every truncation and, at every byte, three
 * corruptions of a valid safetensors file and of two PyTorch zips. Each copy sits in
 * a buffer of exactly its size, so under ASan any read past the end is caught. A
 * truncated file must be refused; a corrupted one must be refused with a message or,
 * if it still parses, hand out tensors whose every byte is readable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/ckpt.h"
#include "io/safetensors.h"

static char dir[] = "/tmp/test_corrupt_XXXXXX";

static int setup(void **state) {
    (void)state;
    if (!mkdtemp(dir)) return -1;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/io/make_torch_ckpts.py %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Opens `len` bytes; returns 1 when it parsed. */
static int try_open(const uint8_t *src, size_t len) {
    uint8_t *b = malloc(len ? len : 1);
    memcpy(b, src, len);
    char *err = NULL;
    ckpt *c = ckpt_open_memory(b, len, "damaged", &err);
    int ok = c != NULL;
    if (c) {
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < ckpt_count(c); i++) {
            const tensor *t = ckpt_at(c, i);
            for (size_t k = 0; k < t->nbytes; k++) sink ^= ((const uint8_t *)t->data)[k];
        }
        ckpt_close(c);
    } else {
        assert_non_null(err);
        assert_true(strncmp(err, "damaged: ", 9) == 0 && strlen(err) > 12);
        free(err);
    }
    free(b);
    return ok;
}

static void sweep(const uint8_t *file, size_t len) {
    assert_int_equal(try_open(file, len), 1);
    for (size_t cut = 0; cut < len; cut++)
        if (try_open(file, cut)) fail_msg("truncated to %zu of %zu bytes, still opened", cut, len);
    uint8_t *b = malloc(len);
    for (size_t i = 0; i < len; i++) {
        const uint8_t bad[3] = {0x00, 0xff, (uint8_t)(file[i] ^ 0x80)};
        for (int k = 0; k < 3; k++) {
            memcpy(b, file, len);
            b[i] = bad[k];
            try_open(b, len);
        }
    }
    free(b);
}

static uint8_t *slurp(const char *name, size_t *len) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    uint8_t *b = malloc(*len);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void test_safetensors_damage(void **state) {
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/good.safetensors", dir);
    float f[6] = {1, 2, 3, 4, 5, 6};
    uint16_t h[4] = {1, 2, 3, 4};
    tensor a = {.dt = DT_F32, .ndim = 2, .ne = {2, 3, 1, 1, 1}, .data = f, .nbytes = sizeof f};
    tensor b = {.dt = DT_F16, .ndim = 1, .ne = {4, 1, 1, 1, 1}, .data = h, .nbytes = sizeof h};
    const tensor *ts[] = {&a, &b};
    const char *names[] = {"w", "b"}, *meta[] = {"format", "pt"};
    char err[256];
    assert_int_equal(st_save(path, names, ts, 2, meta, 1, err, sizeof err), 0);
    size_t len;
    uint8_t *file = slurp("good.safetensors", &len);
    sweep(file, len);
    free(file);
}

static void test_torch_zip_damage(void **state) {
    (void)state;
    const char *files[] = {"lightning.ckpt", "ema.pth"};
    for (int i = 0; i < 2; i++) {
        size_t len;
        uint8_t *file = slurp(files[i], &len);
        sweep(file, len);
        free(file);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safetensors_damage),
        cmocka_unit_test(test_torch_zip_damage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
