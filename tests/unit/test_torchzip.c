/* test_torchzip.c -- PyTorch zip checkpoints written at test time by
 * tests/io/make_torch_ckpts.py (Debian's python3, no torch needed): state dicts in
 * the usual wrappers, strided and offset views, and files that must be refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/ckpt.h"
#include "tensor/half.h"

static char dir[] = "/tmp/test_torchzip_XXXXXX";

static int make_files(void **state) {
    (void)state;
    if (!mkdtemp(dir)) return -1;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/io/make_torch_ckpts.py %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int remove_files(void **state) {
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static ckpt *open_ok(const char *name) {
    char path[256], *err = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ckpt *c = ckpt_open(path, &err);
    if (!c) fail_msg("%s", err);
    assert_int_equal(ckpt_get_format(c), CKPT_TORCH_ZIP);
    return c;
}

static void open_fails(const char *name, const char *needle) {
    char path[256], *err = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_null(ckpt_open(path, &err));
    assert_non_null(err);
    if (!strstr(err, needle)) fail_msg("%s: error '%s' lacks '%s'", name, err, needle);
    free(err);
}

static void check_state_dict(ckpt *c) {
    static const char *order[] = {"model.w", "model.wT", "model.tail", "model.p", "model.ids",
                                  "model.bf", "model.scalar"};
    assert_int_equal(ckpt_count(c), 7);
    for (size_t i = 0; i < 7; i++) assert_string_equal(ckpt_key(c, i), order[i]);

    const tensor *w = ckpt_get(c, "model.w"), *wt = ckpt_get(c, "model.wT");
    const float half[6] = {0.5f, -1.0f, 2.0f, 3.5f, -0.25f, 8.0f};
    assert_int_equal(w->dt, DT_F16);
    assert_int_equal(w->ne[0], 2);
    assert_int_equal(w->ne[1], 3);
    for (int i = 0; i < 6; i++) assert_true(half_to_f32(((uint16_t *)w->data)[i]) == half[i]);
    /* wT is the transpose view: element [r][c] = half[c * 3 + r] */
    assert_int_equal(wt->ne[0], 3);
    for (int r = 0; r < 3; r++)
        for (int col = 0; col < 2; col++)
            assert_true(half_to_f32(((uint16_t *)wt->data)[r * 2 + col]) == half[col * 3 + r]);

    const tensor *tail = ckpt_get(c, "model.tail");
    assert_int_equal(tail->dt, DT_F32);
    assert_true(((float *)tail->data)[0] == 6.0f && ((float *)tail->data)[2] == 8.0f);
    const tensor *p = ckpt_get(c, "model.p");          /* unwrapped _rebuild_parameter */
    assert_int_equal(p->ndim, 2);
    assert_true(((float *)p->data)[3] == 4.0f);
    const tensor *ids = ckpt_get(c, "model.ids");
    assert_int_equal(ids->dt, DT_I64);
    assert_int_equal(((int64_t *)ids->data)[4], 4);
    const tensor *bf = ckpt_get(c, "model.bf");
    assert_int_equal(bf->dt, DT_BF16);
    assert_true(bf16_to_f32(((uint16_t *)bf->data)[1]) == -2.0f);
    const tensor *s = ckpt_get(c, "model.scalar");
    assert_int_equal(s->ndim, 0);
    assert_true(*(float *)s->data == 8.0f);
}

static void test_lightning_state_dict(void **state) {
    (void)state;
    ckpt *c = open_ok("lightning.ckpt");     /* {"epoch", "global_step", "state_dict"} */
    check_state_dict(c);
    assert_int_equal(ckpt_meta_count(c), 0);
    ckpt_close(c);
}

static void test_plain_protocol4(void **state) {
    (void)state;
    ckpt *c = open_ok("plain.pt");
    check_state_dict(c);
    ckpt_close(c);
}

static void test_zip64(void **state) {
    (void)state;
    ckpt *c = open_ok("zip64.ckpt");
    check_state_dict(c);
    ckpt_close(c);
}

static void test_wrappers(void **state) {
    (void)state;
    ckpt *c = open_ok("ema.pth");            /* params_ema wins over params */
    assert_int_equal(ckpt_count(c), 1);
    assert_int_equal(ckpt_get(c, "conv.weight")->ndim, 4);
    ckpt_close(c);
    c = open_ok("embedding.pt");             /* nested dicts flatten to dotted names */
    assert_int_equal(ckpt_count(c), 1);
    assert_int_equal(ckpt_get(c, "string_to_param.*")->ne[1], 4);
    ckpt_close(c);
    c = open_ok("single.bin");               /* one-key dict: its value is the state dict */
    assert_int_equal(ckpt_count(c), 1);
    assert_int_equal(ckpt_get(c, "x")->ne[0], 8);
    ckpt_close(c);
}

static void test_refusals(void **state) {
    (void)state;
    open_fails("evil.ckpt", "refusing to load: the pickle uses the global 'posix.system'");
    open_fails("evil4.ckpt", "refusing to load: the pickle uses the global 'posix.system'");
    assert_int_not_equal(access("/tmp/io-test-pwned", F_OK), 0);
    open_fails("deflate.ckpt", "is compressed (method 8)");
    open_fails("truncated.ckpt", "end-of-central-directory record not found");
    open_fails("bigendian.ckpt", "big-endian");
    open_fails("short_storage.ckpt", "holds 8 bytes, fewer than the 4 F32 elements");
    open_fails("view_outside.ckpt", "reaches element 9 of storage 'archive/data/1', which has 8");
    open_fails("no_tensors.ckpt", "holds no tensors");
    open_fails("legacy.pt", "legacy PyTorch checkpoint format");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lightning_state_dict),
        cmocka_unit_test(test_plain_protocol4),
        cmocka_unit_test(test_zip64),
        cmocka_unit_test(test_wrappers),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, make_files, remove_files);
}
