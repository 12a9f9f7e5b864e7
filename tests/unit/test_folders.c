/* test_folders.c -- the folder registry: ComfyUI's folders and order, extension
 * filters, scans that follow the disk, extra_model_paths.yaml, the temp folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/folders.h"

static char base[64];

static void touch(const char *rel) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", base, rel);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    folders_mkdirs(dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("x", f);
    fclose(f);
}

static int setup(void **state) {
    (void)state;
    snprintf(base, sizeof base, "/tmp/ci-folders-XXXXXX");
    if (!mkdtemp(base)) return -1;
    touch("temp/stale.png");
    char err[256];
    folders_config fc = {.base_dir = base};
    return folders_init(&fc, err, sizeof err);
}

static int teardown(void **state) {
    (void)state;
    folders_shutdown();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    return system(cmd);
}

static void test_layout(void **state) {
    (void)state;
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/output", base);
    assert_string_equal(folders_output(), want);
    assert_string_equal(folders_for_type("output"), want);
    assert_null(folders_for_type("models"));
    struct stat st;
    assert_int_equal(stat(folders_input(), &st), 0);
    snprintf(want, sizeof want, "%s/temp/stale.png", base);
    assert_int_not_equal(stat(want, &st), 0);           /* temp is emptied at start */
    snprintf(want, sizeof want, "%s/models/checkpoints", base);
    assert_int_equal(stat(want, &st), 0);
}

static void test_registry_order_and_aliases(void **state) {
    (void)state;
    assert_string_equal(folders_name(0), "checkpoints");
    assert_string_equal(folders_name(1), "configs");
    assert_string_equal(folders_name(folders_count() - 1), "detection");
    assert_int_equal(folders_count(), 26);
    assert_int_equal(folders_find("clip", 0), -1);
    assert_int_equal(folders_find("clip", 1), folders_find("text_encoders", 0));
    assert_int_equal(folders_find("unet", 1), folders_find("diffusion_models", 0));
    int ck = folders_find("checkpoints", 0);
    assert_int_equal(folders_path_count(ck), 2);        /* models/checkpoints + output/checkpoints */
    assert_non_null(strstr(folders_path(ck, 1), "/output/checkpoints"));
    int ctl = folders_find("controlnet", 0);
    assert_non_null(strstr(folders_path(ctl, 1), "/models/t2i_adapter"));
}

static void test_filters_and_scan(void **state) {
    (void)state;
    touch("models/checkpoints/b.safetensors");
    touch("models/checkpoints/A.CKPT");
    touch("models/checkpoints/sub/c.sft");
    touch("models/checkpoints/readme.txt");
    touch("models/checkpoints/.git/hidden.pt");
    touch("output/checkpoints/b.safetensors");            /* same name in a second path: once */
    touch("output/checkpoints/merged.safetensors");
    touch("models/configs/v1.yaml");
    touch("models/configs/v1.json");
    touch("models/classifiers/noext");
    touch("models/classifiers/with.ext");
    str_list l = {0};
    assert_int_equal(folders_list("checkpoints", &l), 0);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.items[0], "A.CKPT");
    assert_string_equal(l.items[1], "b.safetensors");
    assert_string_equal(l.items[2], "merged.safetensors");
    assert_string_equal(l.items[3], "sub/c.sft");
    str_list_free(&l);
    assert_int_equal(folders_list("configs", &l), 0);
    assert_int_equal(l.n, 1);
    str_list_free(&l);
    assert_int_equal(folders_list("classifiers", &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0], "noext");
    str_list_free(&l);
    assert_int_equal(folders_list("nope", &l), -1);
    char path[PATH_MAX];
    assert_int_equal(folders_resolve("checkpoints", "merged.safetensors", path, sizeof path), 0);
    assert_non_null(strstr(path, "/output/checkpoints/merged.safetensors"));
    assert_int_equal(folders_resolve("checkpoints", "../x", path, sizeof path), -1);
    assert_int_equal(folders_resolve("checkpoints", "missing.pt", path, sizeof path), -1);
}

static void test_extra_yaml(void **state) {
    (void)state;
    char yaml[PATH_MAX], err[256];
    snprintf(yaml, sizeof yaml, "%s/extra.yaml", base);
    FILE *f = fopen(yaml, "w");
    fprintf(f, "a1111:\n    base_path: shared\n\n    checkpoints: models/Stable-diffusion\n"
               "    clip: 'text'   # legacy name\n    controlnet: |\n      cn1\n      cn2\n"
               "    brand_new: stuff\nsecond:\n  is_default: true\n  vae: %s/vaes\n", base);
    fclose(f);
    const char *files[] = {yaml};
    folders_config fc = {.base_dir = base, .extra_yaml = files, .n_extra_yaml = 1};
    assert_int_equal(folders_init(&fc, err, sizeof err), 0);
    int ck = folders_find("checkpoints", 0);
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/shared/models/Stable-diffusion", base);
    assert_string_equal(folders_path(ck, folders_path_count(ck) - 1), want);
    int te = folders_find("text_encoders", 0);
    snprintf(want, sizeof want, "%s/shared/text", base);
    assert_string_equal(folders_path(te, folders_path_count(te) - 1), want);
    int cn = folders_find("controlnet", 0);
    assert_int_equal(folders_path_count(cn), 4);
    assert_true(folders_find("brand_new", 0) >= 26);
    int vae = folders_find("vae", 0);
    snprintf(want, sizeof want, "%s/vaes", base);
    assert_string_equal(folders_path(vae, 0), want);     /* is_default puts it first */
    const char *missing[] = {"/nonexistent/extra.yaml"};
    fc.extra_yaml = missing;
    assert_int_equal(folders_init(&fc, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/extra.yaml"));
    fc.extra_yaml = NULL;
    fc.n_extra_yaml = 0;
    assert_int_equal(folders_init(&fc, err, sizeof err), 0);
}

static void test_overrides(void **state) {
    (void)state;
    char out[PATH_MAX], tparent[PATH_MAX], err[256];
    snprintf(out, sizeof out, "%s/elsewhere/out", base);
    snprintf(tparent, sizeof tparent, "%s/tp", base);
    folders_config fc = {.base_dir = base, .output_dir = out, .temp_parent = tparent};
    assert_int_equal(folders_init(&fc, err, sizeof err), 0);
    assert_string_equal(folders_output(), out);
    assert_null(folders_tokenizer_dir());
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/tp/temp", base);
    assert_string_equal(folders_temp(), want);
    int ck = folders_find("checkpoints", 0);
    assert_true(snprintf(want, sizeof want, "%s/checkpoints", out) < (int)sizeof want);
    assert_string_equal(folders_path(ck, 1), want);
    fc = (folders_config){.base_dir = base, .tokenizer_dir = "/opt/tok/sd1"};
    assert_int_equal(folders_init(&fc, err, sizeof err), 0);
    assert_string_equal(folders_tokenizer_dir(), "/opt/tok/sd1");
    fc = (folders_config){.base_dir = base};
    assert_int_equal(folders_init(&fc, err, sizeof err), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),         cmocka_unit_test(test_registry_order_and_aliases),
        cmocka_unit_test(test_filters_and_scan), cmocka_unit_test(test_extra_yaml),
        cmocka_unit_test(test_overrides),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
