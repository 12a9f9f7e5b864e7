/* test_config.c -- command line and --config parsing: ComfyUI's flag forms, our
 * compute flags, errors for everything malformed, and JSON under the command line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/config.h"
#include "base/log.h"

static cfg_result parse(app_config *cfg, char *err, int argc, char **argv) {
    config_defaults(cfg);
    FILE *out = fopen("/dev/null", "w");
    cfg_result r = config_parse(cfg, argc, argv, out, err, 256);
    fclose(out);
    return r;
}

#define PARSE(cfg, err, ...)                                                      \
    ({                                                                            \
        char *argv_[] = {"comfyui-ipex", __VA_ARGS__};                            \
        parse(cfg, err, (int)(sizeof argv_ / sizeof argv_[0]), argv_);           \
    })

static void test_defaults(void **state) {
    (void)state;
    app_config c;
    char err[256];
    char *argv[] = {"comfyui-ipex"};
    assert_int_equal(parse(&c, err, 1, argv), CFG_OK);
    assert_string_equal(c.listen, "127.0.0.1");
    assert_int_equal(c.port, 8188);
    assert_true(c.max_upload_mb == 100.0 && !c.max_upload_given);
    assert_string_equal(c.cors_origin, "");
    assert_int_equal(c.preview_method, 0);
    assert_int_equal(c.backend.accel, ACCEL_AUTO);
    assert_int_equal(c.backend.prec, PREC_FP32);
    assert_int_equal(c.verbose, LOG_LVL_INFO);
}

static void test_value_forms(void **state) {
    (void)state;
    app_config c;
    char err[256];
    assert_int_equal(PARSE(&c, err, "--port=9000", "--listen", "0.0.0.0", "--max-upload-size", "2.5"), CFG_OK);
    assert_int_equal(c.port, 9000);
    assert_string_equal(c.listen, "0.0.0.0");
    assert_true(c.max_upload_mb == 2.5 && c.max_upload_given);
}

static void test_optional_values(void **state) {
    (void)state;
    app_config c;
    char err[256];
    assert_int_equal(PARSE(&c, err, "--listen", "--enable-cors-header", "--verbose"), CFG_OK);
    assert_string_equal(c.listen, "0.0.0.0,::");
    assert_string_equal(c.cors_origin, "*");
    assert_int_equal(c.verbose, LOG_LVL_DEBUG);
    assert_int_equal(PARSE(&c, err, "--enable-cors-header", "http://a.example", "--verbose", "ERROR"), CFG_OK);
    assert_string_equal(c.cors_origin, "http://a.example");
    assert_int_equal(c.verbose, LOG_LVL_ERROR);
}

static void test_compute_flags(void **state) {
    (void)state;
    app_config c;
    char err[256];
    assert_int_equal(PARSE(&c, err, "--acceleration", "xpu", "--opt-level", "O3", "--precision", "bf16", "--no-jit",
                           "--threads", "4"), CFG_OK);
    assert_int_equal(c.backend.accel, ACCEL_XPU);
    assert_int_equal(c.backend.opt, OPT_O3);
    assert_int_equal(c.backend.prec, PREC_BF16);
    assert_int_equal(c.backend.jit, 0);
    assert_int_equal(c.backend.threads, 4);
    assert_int_equal(PARSE(&c, err, "--acceleration", "xpu", "--cpu"), CFG_OK);
    assert_int_equal(c.backend.accel, ACCEL_CPU);
}

static void test_lists(void **state) {
    (void)state;
    app_config c;
    char err[256];
    assert_int_equal(PARSE(&c, err, "--extra-model-paths-config", "a.yaml", "b.yaml", "--port", "1",
                           "--feature-flag", "x=1", "--feature-flag", "y"), CFG_OK);
    assert_int_equal(c.n_extra_model_paths, 2);
    assert_string_equal(c.extra_model_paths[1], "b.yaml");
    assert_int_equal(c.n_feature_flags, 2);
    assert_string_equal(c.feature_flags[0], "x=1");
    assert_int_equal(PARSE(&c, err, "--extra-model-paths-config"), CFG_ERROR);
}

static void test_comfyui_only_flags_are_recorded(void **state) {
    (void)state;
    app_config c;
    char err[256];
    assert_int_equal(PARSE(&c, err, "--highvram", "--reserve-vram", "2", "--fast", "a", "b", "--use-sage-attention"), CFG_OK);
    assert_int_equal(c.n_ignored, 4);
    assert_string_equal(c.ignored[0], "--highvram");
}

static void test_cache_flags(void **state) {
    (void)state;
    app_config c;
    char err[256];
    assert_int_equal(PARSE(&c, err, "--cache-lru", "8"), CFG_OK);
    assert_int_equal(c.cache_mode, GRAPH_CACHE_LRU);
    assert_int_equal(c.cache_lru, 8);
    assert_int_equal(PARSE(&c, err, "--cache-none"), CFG_OK);
    assert_int_equal(c.cache_mode, GRAPH_CACHE_NONE);
    assert_int_equal(PARSE(&c, err, "--cache-classic"), CFG_OK);
    assert_int_equal(c.cache_mode, GRAPH_CACHE_CLASSIC);
    assert_int_equal(PARSE(&c, err, "--cache-ram", "4", "2"), CFG_OK);
    assert_int_equal(c.cache_mode, GRAPH_CACHE_DEFAULT);
    assert_int_equal(PARSE(&c, err, "--cache-none", "--cache-lru", "3"), CFG_ERROR);
    assert_non_null(strstr(err, "not allowed with argument --cache-none"));
    assert_int_equal(PARSE(&c, err, "--cache-lru", "x"), CFG_ERROR);
}

static void test_errors(void **state) {
    (void)state;
    app_config c;
    char err[256];
    assert_int_equal(PARSE(&c, err, "--bogus"), CFG_ERROR);
    assert_non_null(strstr(err, "unrecognized arguments: --bogus"));
    assert_int_equal(PARSE(&c, err, "-x"), CFG_ERROR);
    assert_int_equal(PARSE(&c, err, "--port", "70000"), CFG_ERROR);
    assert_int_equal(PARSE(&c, err, "--port", "--cpu"), CFG_ERROR);
    assert_non_null(strstr(err, "expected one argument"));
    assert_int_equal(PARSE(&c, err, "--precision", "fp64"), CFG_ERROR);
    assert_non_null(strstr(err, "invalid choice: 'fp64'"));
    assert_int_equal(PARSE(&c, err, "--disable-metadata=1"), CFG_ERROR);
    assert_int_equal(PARSE(&c, err, "--max-upload-size", "0"), CFG_ERROR);
    assert_int_equal(PARSE(&c, err, "--base_directory", "x"), CFG_ERROR);   /* only JSON may use "_" */
}

static void test_help_and_version(void **state) {
    (void)state;
    app_config c;
    char err[256];
    assert_int_equal(PARSE(&c, err, "--port", "x", "--help"), CFG_EXIT_OK);
    assert_int_equal(PARSE(&c, err, "--version"), CFG_EXIT_OK);
}

static void test_json(void **state) {
    (void)state;
    app_config c;
    char err[256];
    config_defaults(&c);
    assert_int_equal(config_apply_json(&c, "{\"port\": 9001, \"base_directory\": \"/srv\", \"cpu\": true,"
                                           " \"jit\": false, \"listen\": true, \"enable-cors-header\": false,"
                                           " \"extra-model-paths-config\": [\"a\", \"b\"], \"max-upload-size\": 1.5,"
                                           " \"preview-method\": null}", err, sizeof err), CFG_OK);
    assert_int_equal(c.port, 9001);
    assert_string_equal(c.base_dir, "/srv");
    assert_int_equal(c.backend.accel, ACCEL_CPU);
    assert_int_equal(c.backend.jit, 0);
    assert_string_equal(c.listen, "0.0.0.0,::");
    assert_string_equal(c.cors_origin, "");
    assert_int_equal(c.n_extra_model_paths, 2);
    assert_true(c.max_upload_mb == 1.5);
    assert_int_equal(config_apply_json(&c, "[1]", err, sizeof err), CFG_ERROR);
    assert_int_equal(config_apply_json(&c, "{\"port\": \"x\"}", err, sizeof err), CFG_ERROR);
    assert_int_equal(config_apply_json(&c, "{\"port\": [1, 2]}", err, sizeof err), CFG_ERROR);
    assert_int_equal(config_apply_json(&c, "{\"config\": \"other.json\"}", err, sizeof err), CFG_ERROR);
    assert_int_equal(config_apply_json(&c, "{\"port\": {}}", err, sizeof err), CFG_ERROR);
}

static void test_command_line_wins_over_config_file(void **state) {
    (void)state;
    char path[] = "/tmp/ci-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *json = "{\"port\": 9100, \"preview-method\": \"taesd\", \"listen\": \"0.0.0.0\"}";
    assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
    close(fd);
    app_config c;
    char err[256];
    assert_int_equal(PARSE(&c, err, "--port", "9200", "--config", path), CFG_OK);
    assert_int_equal(c.port, 9200);
    assert_int_equal(c.preview_method, 2);
    assert_string_equal(c.listen, "0.0.0.0");
    assert_string_equal(c.config_file, path);
    unlink(path);
    assert_int_equal(PARSE(&c, err, "--config", path), CFG_ERROR);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_value_forms),
        cmocka_unit_test(test_optional_values),
        cmocka_unit_test(test_compute_flags),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_comfyui_only_flags_are_recorded),
        cmocka_unit_test(test_cache_flags),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_command_line_wins_over_config_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
