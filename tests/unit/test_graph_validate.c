/* test_graph_validate.c -- POST /prompt validation: the spec's error bodies (5.3, 5.4),
 * normalisation and exact big integers. Core nodes we do not implement yet are
 * stand-ins declared from comfyui-core-nodes.json, so the KSampler examples of the spec
 * apply unchanged. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/graph_support.h"
#include "graph/graph.h"

/* The frontend's default graph (spec 2.2) with one KSampler input replaced. */
static char *default_graph(const char *ksampler_override, const char *extra) {
    static char buf[8192];
    snprintf(buf, sizeof buf,
        "{\"prompt\": {"
        "\"3\": {\"inputs\": {\"seed\": 156680208700286, \"steps\": 20, \"cfg\": 8, \"sampler_name\": \"euler\", "
        "\"scheduler\": \"normal\", \"denoise\": 1, \"model\": [\"4\", 0], \"positive\": [\"6\", 0], "
        "\"negative\": [\"7\", 0], \"latent_image\": [\"5\", 0]%s}, \"class_type\": \"KSampler\", \"_meta\": {\"title\": \"KSampler\"}},"
        "\"4\": {\"inputs\": {\"ckpt_name\": \"v1-5-pruned-emaonly-fp16.safetensors\"}, \"class_type\": \"CheckpointLoaderSimple\"},"
        "\"5\": {\"inputs\": {\"width\": 512, \"height\": 512, \"batch_size\": 1}, \"class_type\": \"EmptyLatentImage\"},"
        "\"6\": {\"inputs\": {\"text\": \"a bottle\", \"clip\": [\"4\", 1]}, \"class_type\": \"CLIPTextEncode\"},"
        "\"7\": {\"inputs\": {\"text\": \"text, watermark\", \"clip\": [\"4\", 1]}, \"class_type\": \"CLIPTextEncode\"},"
        "\"8\": {\"inputs\": {\"samples\": [\"3\", 0], \"vae\": [\"4\", 2]}, \"class_type\": \"VAEDecode\"},"
        "\"9\": {\"inputs\": {\"filename_prefix\": \"ComfyUI\", \"images\": [\"8\", 0]}, \"class_type\": \"SaveImage\"}}%s}",
        ksampler_override ? ksampler_override : "", extra ? extra : "");
    return buf;
}

static int setup_once(void **state) { (void)state; gs_setup(); return 0; }

static cJSON *errors_of(cJSON *body, const char *node) {
    return cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(body, "node_errors"), node), "errors");
}

static cJSON *find_error(cJSON *errors, const char *type) {
    for (cJSON *e = errors ? errors->child : NULL; e; e = e->next)
        if (!strcmp(cJSON_GetObjectItem(e, "type")->valuestring, type)) return e;
    return NULL;
}

static void assert_json(const cJSON *got, const char *want) {
    cJSON *w = json_parse(want, strlen(want));
    assert_non_null(w);
    char *a = json_print(got), *b = json_print(w);
    if (strcmp(a, b)) fprintf(stderr, "got:  %s\nwant: %s\n", a, b);
    assert_string_equal(a, b);
    free(a); free(b);
    cJSON_Delete(w);
}

static void test_missing_class(void **state) {
    (void)state;
    int st;
    cJSON *b = gs_post("{\"prompt\": {\"5\": {\"class_type\": \"Foo\", \"inputs\": {}}}}", &st);
    assert_int_equal(st, 400);
    assert_json(b, "{\"error\": {\"type\": \"missing_node_type\", \"message\": \"Node 'Foo' not found. The custom node may not be installed.\", "
                   "\"details\": \"Node ID '#5'\", \"extra_info\": {\"node_id\": \"5\", \"class_type\": \"Foo\", \"node_title\": \"Foo\"}}, \"node_errors\": {}}");
    cJSON_Delete(b);
    b = gs_post("{\"prompt\": {\"7\": {\"inputs\": {}}}}", &st);
    assert_int_equal(st, 400);
    assert_json(cJSON_GetObjectItem(b, "error"), "{\"type\": \"missing_node_type\", \"message\": \"Node 'ID #7' has no class_type. The workflow may be corrupted or a custom node is missing.\", "
                   "\"details\": \"Node ID '#7'\", \"extra_info\": {\"node_id\": \"7\", \"class_type\": null, \"node_title\": null}}");
    cJSON_Delete(b);
}

static void test_no_outputs_no_prompt_bad_id(void **state) {
    (void)state;
    int st;
    cJSON *b = gs_post("{\"prompt\": {\"5\": {\"class_type\": \"EmptyLatentImage\", \"inputs\": {\"width\": 512, \"height\": 512, \"batch_size\": 1}}}}", &st);
    assert_int_equal(st, 400);
    assert_json(b, "{\"error\": {\"type\": \"prompt_no_outputs\", \"message\": \"Prompt has no outputs\", \"details\": \"\", \"extra_info\": {}}, \"node_errors\": {}}");
    cJSON_Delete(b);
    b = gs_post("{\"client_id\": \"x\"}", &st);
    assert_int_equal(st, 400);
    assert_json(b, "{\"error\": {\"type\": \"no_prompt\", \"message\": \"No prompt provided\", \"details\": \"No prompt provided\", \"extra_info\": {}}, \"node_errors\": {}}");
    cJSON_Delete(b);
    b = gs_post("{\"prompt\": {}, \"prompt_id\": \"0B7E0C3E-3C55-4D8E-9D0F-5C0F7D1C2A11\"}", &st);
    assert_int_equal(st, 400);
    assert_json(b, "{\"error\": {\"type\": \"invalid_prompt_id\", \"message\": \"prompt_id must be a valid UUID\", \"details\": \"prompt_id must be a UUID string in canonical lowercase hyphenated form; omit it to let the server generate one\", \"extra_info\": {}}, \"node_errors\": {}}");
    cJSON_Delete(b);
}

static void test_steps_zero(void **state) {
    (void)state;
    int st;
    cJSON *b = gs_post(default_graph(", \"steps\": 0", NULL), &st);
    assert_int_equal(st, 400);
    assert_json(cJSON_GetObjectItem(b, "error"), "{\"type\": \"prompt_outputs_failed_validation\", \"message\": \"Prompt outputs failed validation\", \"details\": \"\", \"extra_info\": {}}");
    assert_json(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "node_errors"), "3"),
        "{\"errors\": [{\"type\": \"value_smaller_than_min\", \"message\": \"Value 0 smaller than min of 1\", \"details\": \"steps\", "
        "\"extra_info\": {\"input_name\": \"steps\", \"input_config\": [\"INT\", {\"default\": 20, \"min\": 1, \"max\": 10000, \"tooltip\": \"The number of steps used in the denoising process.\"}], \"received_value\": 0}}], "
        "\"dependent_outputs\": [\"9\"], \"class_type\": \"KSampler\"}");
    /* no checkpoint files here: the loader's combo is [] */
    cJSON *e = find_error(errors_of(b, "4"), "value_not_in_list");
    assert_non_null(e);
    assert_string_equal(cJSON_GetObjectItem(e, "details")->valuestring,
                        "ckpt_name: 'v1-5-pruned-emaonly-fp16.safetensors' not in []");
    cJSON_Delete(b);
}

static void test_lists_and_floats(void **state) {
    (void)state;
    int st;
    cJSON *b = gs_post(default_graph(", \"sampler_name\": \"foo\", \"scheduler\": \"bar\", \"cfg\": 1000", NULL), &st);
    assert_int_equal(st, 400);
    cJSON *errs = errors_of(b, "3");
    assert_int_equal(cJSON_GetArraySize(errs), 3);
    cJSON *e = find_error(errs, "value_bigger_than_max");
    assert_string_equal(cJSON_GetObjectItem(e, "message")->valuestring, "Value 1000.0 bigger than max of 100.0");
    char *rv = json_print(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "extra_info"), "received_value"));
    assert_string_equal(rv, "1000.0");
    free(rv);
    int seen_sampler = 0, seen_sched = 0;
    for (e = errs->child; e; e = e->next) {
        const char *d = cJSON_GetObjectItem(e, "details")->valuestring;
        const cJSON *cfg = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "extra_info"), "input_config");
        if (!strcmp(d, "sampler_name: 'foo' not in (list of length 44)")) { seen_sampler = 1; assert_true(cJSON_IsNull(cfg)); }
        if (!strcmp(d, "scheduler: 'bar' not in ['simple', 'sgm_uniform', 'karras', 'exponential', 'ddim_uniform', 'beta', 'normal', 'linear_quadratic', 'kl_optimal']")) {
            seen_sched = 1;
            assert_true(cJSON_IsArray(cfg));
        }
    }
    assert_true(seen_sampler && seen_sched);
    cJSON_Delete(b);
}

static void test_type_mismatch_and_conversion(void **state) {
    (void)state;
    int st;
    cJSON *b = gs_post(default_graph(", \"model\": [\"4\", 1], \"steps\": \"abc\"", NULL), &st);
    assert_int_equal(st, 400);
    cJSON *e = find_error(errors_of(b, "3"), "return_type_mismatch");
    assert_non_null(e);
    assert_string_equal(cJSON_GetObjectItem(e, "details")->valuestring, "model, received_type(CLIP) mismatch input_type(MODEL)");
    assert_json(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "extra_info"), "linked_node"), "[\"4\", 1]");
    e = find_error(errors_of(b, "3"), "invalid_input_type");
    assert_non_null(e);
    assert_string_equal(cJSON_GetObjectItem(e, "message")->valuestring, "Failed to convert an input value to a INT value");
    assert_string_equal(cJSON_GetObjectItem(e, "details")->valuestring, "steps, abc, invalid literal for int() with base 10: 'abc'");
    cJSON_Delete(b);
}

static void test_missing_link_and_required(void **state) {
    (void)state;
    int st;
    cJSON *b = gs_post(default_graph(", \"model\": [\"99\", 0]", NULL), &st);
    assert_int_equal(st, 400);
    cJSON *e = find_error(errors_of(b, "3"), "exception_during_inner_validation");
    assert_non_null(e);
    assert_string_equal(cJSON_GetObjectItem(e, "details")->valuestring, "'99'");
    cJSON *x = cJSON_GetObjectItem(e, "extra_info");
    assert_string_equal(cJSON_GetObjectItem(x, "input_name")->valuestring, "samples");
    assert_string_equal(cJSON_GetObjectItem(x, "exception_type")->valuestring, "KeyError");
    cJSON_Delete(b);

    b = gs_post("{\"prompt\": {\"1\": {\"class_type\": \"TestSink\", \"inputs\": {}}, "
                "\"2\": {\"class_type\": \"TestSink\", \"inputs\": {\"value\": [\"1\", 0, 5]}}}}", &st);
    assert_int_equal(st, 400);
    assert_json(cJSON_GetObjectItem(b, "node_errors"),
        "{\"1\": {\"errors\": [{\"type\": \"required_input_missing\", \"message\": \"Required input is missing\", \"details\": \"value\", \"extra_info\": {\"input_name\": \"value\"}}], \"dependent_outputs\": [\"1\", \"2\"], \"class_type\": \"TestSink\"}, "
        "\"2\": {\"errors\": [{\"type\": \"bad_linked_input\", \"message\": \"Bad linked input, must be a length-2 list of [node_id, slot_index]\", \"details\": \"value\", "
        "\"extra_info\": {\"input_name\": \"value\", \"input_config\": [\"INT\", {\"default\": 0}], \"received_value\": [\"1\", 0, 5]}}], \"dependent_outputs\": [\"2\"], \"class_type\": \"TestSink\"}}");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "error"), "details")->valuestring,
                        "Required input is missing: value\nBad linked input, must be a length-2 list of [node_id, slot_index]: value");
    cJSON_Delete(b);
}

static void test_cycle(void **state) {
    (void)state;
    int st;
    cJSON *b = gs_post("{\"prompt\": {\"10\": {\"class_type\": \"TestCounter\", \"inputs\": {\"value\": [\"11\", 0], \"steps\": 0}}, "
                       "\"11\": {\"class_type\": \"TestCounter\", \"inputs\": {\"value\": [\"10\", 0], \"steps\": 0}}, "
                       "\"12\": {\"class_type\": \"TestSink\", \"inputs\": {\"value\": [\"10\", 0]}}}}", &st);
    assert_int_equal(st, 400);
    cJSON *e = find_error(errors_of(b, "10"), "dependency_cycle");
    assert_non_null(e);
    assert_string_equal(cJSON_GetObjectItem(e, "details")->valuestring, "10 (TestCounter) -> 11 (TestCounter) -> 10 (TestCounter)");
    assert_non_null(find_error(errors_of(b, "11"), "dependency_cycle"));
    cJSON_Delete(b);
}

static void test_load_image_missing(void **state) {
    (void)state;
    int st;
    cJSON *b = gs_post("{\"prompt\": {\"1\": {\"class_type\": \"LoadImage\", \"inputs\": {\"image\": \"nope.png\"}}, "
                       "\"2\": {\"class_type\": \"SaveImage\", \"inputs\": {\"images\": [\"1\", 0], \"filename_prefix\": \"x\"}}}}", &st);
    assert_int_equal(st, 400);
    assert_json(errors_of(b, "1"), "[{\"type\": \"custom_validation_failed\", \"message\": \"Custom validation failed for node\", "
                                   "\"details\": \"image - Invalid image file: nope.png\", \"extra_info\": {\"input_name\": \"image\"}}]");
    cJSON_Delete(b);
}

/* One good output, one failing: 200, the good output queued, node_errors for the rest. */
static void test_partial_and_normalised(void **state) {
    (void)state;
    int st;
    cJSON *b = gs_post("{\"prompt\": {\"5\": {\"class_type\": \"EmptyLatentImage\", \"inputs\": {\"width\": 8, \"height\": 512, \"batch_size\": 1}}, "
                       "\"9\": {\"class_type\": \"SaveLatent\", \"inputs\": {\"samples\": [\"5\", 0], \"filename_prefix\": \"a\"}}, "
                       "\"10\": {\"class_type\": \"TestSink\", \"inputs\": {\"value\": \"7\", \"seed\": {\"__value__\": 18446744073709551615}}}}, "
                       "\"client_id\": \"v\", \"number\": 5, \"prompt_id\": \"0b7e0c3e-3c55-4d8e-9d0f-5c0f7d1c2a11\"}", &st);
    assert_int_equal(st, 200);
    assert_json(b, "{\"prompt_id\": \"0b7e0c3e-3c55-4d8e-9d0f-5c0f7d1c2a11\", \"number\": 5.0, \"node_errors\": {\"5\": {\"errors\": ["
                   "{\"type\": \"value_smaller_than_min\", \"message\": \"Value 8 smaller than min of 16\", \"details\": \"width\", "
                   "\"extra_info\": {\"input_name\": \"width\", \"input_config\": [\"INT\", {\"default\": 512, \"min\": 16, \"max\": 16384, \"step\": 8, \"tooltip\": \"The width of the latent images in pixels.\"}], \"received_value\": 8}}], "
                   "\"dependent_outputs\": [\"9\"], \"class_type\": \"EmptyLatentImage\"}}}");
    cJSON_Delete(b);
    size_t cur = 0;
    gs_wait_done("0b7e0c3e-3c55-4d8e-9d0f-5c0f7d1c2a11", &cur);
    graph_reply r = graph_get_history_item("0b7e0c3e-3c55-4d8e-9d0f-5c0f7d1c2a11");
    assert_int_equal(r.status, 200);
    /* normalised: "7" -> 7, __value__ unwrapped, big seed exact; only "10" executed */
    assert_non_null(strstr(r.body, "\"inputs\": {\"value\": 7, \"seed\": 18446744073709551615}"));
    assert_non_null(strstr(r.body, "[\"10\"]]"));
    assert_non_null(strstr(r.body, "\"outputs\": {\"10\": {\"text\": [\"7/18446744073709551615\"]}}"));
    free(r.body);
}

static void test_big_int_bounds(void **state) {
    (void)state;
    int st;
    cJSON *b = gs_post("{\"prompt\": {\"1\": {\"class_type\": \"TestSink\", \"inputs\": {\"value\": 1, \"seed\": 18446744073709551616}}}}", &st);
    assert_int_equal(st, 400);
    cJSON *e = find_error(errors_of(b, "1"), "value_bigger_than_max");
    assert_string_equal(cJSON_GetObjectItem(e, "message")->valuestring, "Value 18446744073709551616 bigger than max of 18446744073709551615");
    cJSON_Delete(b);
    b = gs_post("{\"prompt\": {\"1\": {\"class_type\": \"TestSink\", \"inputs\": {\"value\": 2.9, \"seed\": -1}}}}", &st);
    assert_int_equal(st, 400);
    e = find_error(errors_of(b, "1"), "value_smaller_than_min");
    assert_string_equal(cJSON_GetObjectItem(e, "message")->valuestring, "Value -1 smaller than min of 0");
    cJSON_Delete(b);
}

static void test_partial_targets(void **state) {
    (void)state;
    int st;
    cJSON *b = gs_post("{\"prompt\": {\"1\": {\"class_type\": \"TestSink\", \"inputs\": {\"value\": 1}}}, \"partial_execution_targets\": [\"2\"]}", &st);
    assert_int_equal(st, 400);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "error"), "type")->valuestring, "prompt_no_outputs");
    cJSON_Delete(b);
}

/* A chain deeper than Python's recursion limit is an error answer, not a crash; a
 * long chain within it validates and runs. */
static void test_deep_chains(void **state) {
    (void)state;
    for (int n = 900; n <= 3000; n += 2100) {
        sbuf b = {0};
        sb_printf(&b, "{\"client_id\": \"v\", \"prompt\": {\"0\": {\"class_type\": \"TestCounter\", \"inputs\": {\"value\": -100, \"steps\": 0}}");
        for (int i = 1; i < n; i++)
            sb_printf(&b, ", \"%d\": {\"class_type\": \"TestCounter\", \"inputs\": {\"value\": [\"%d\", 0], \"steps\": 0}}", i, i - 1);
        sb_printf(&b, ", \"end\": {\"class_type\": \"TestGather\", \"inputs\": {\"value\": [\"%d\", 0]}}}}", n - 1);
        char *text = sb_take(&b);
        int st;
        cJSON *r = gs_post(text, &st);
        free(text);
        if (n == 900) {
            assert_int_equal(st, 200);
            size_t cur = 0;
            gs_wait_done(cJSON_GetObjectItem(r, "prompt_id")->valuestring, &cur);
        } else {
            assert_int_equal(st, 400);
            char *t = json_print(r);
            assert_non_null(strstr(t, "maximum recursion depth exceeded"));
            free(t);
        }
        cJSON_Delete(r);
    }
}

/* Mutated prompts (bytes flipped, JSON fragments spliced in, ranges cut) through
 * parsing, validation and error formatting: every one must give an answer, never a
 * crash (run under make asan too). Deterministic: a fixed xorshift seed. */
static void test_mutated_prompts(void **state) {
    (void)state;
    static const char *frag[] = { "[", "]", "{", "}", "\"", ",", ":", "null", "true", "-1e400", "1e999",
        "18446744073709551616", "-9223372036854775809", "0.5", "\"\\u0000\"", "{\"__value__\": [1]}",
        "[\"3\", 7]", "[\"3\", -1]", "[\"3\", 0.0]", "[\"99\", 0]", "[\"3\"]", "\"\\ud800\"",
        "\"class_type\": \"KSampler\"", "\"inputs\": 5", "\"é\"" };
    const char *base = default_graph(NULL, NULL);
    char *seed = strdup(strstr(base, "{\"3\""));
    seed[strlen(seed) - 1] = 0;   /* the prompt object alone */
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int parsed = 0, accepted = 0;
    for (int iter = 0; iter < 6000; iter++) {
        sbuf b = {0};
        sb_puts(&b, seed);
        int edits = 1 + (int)(x % 4);
        for (int e = 0; e < edits; e++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            size_t len = b.len, at = len ? (size_t)(x >> 8) % len : 0;
            char *t = sb_take(&b);
            sbuf m = {0};
            switch (x % 3) {
            case 0: sb_putn(&m, t, at); sb_puts(&m, frag[(x >> 32) % (sizeof frag / sizeof *frag)]); sb_puts(&m, t + at); break;
            case 1: { size_t cut = (x >> 40) % 24; sb_putn(&m, t, at); if (at + cut < len) sb_puts(&m, t + at + cut); break; }
            default: t[at] ^= (char)(1 << ((x >> 48) % 7)); sb_puts(&m, t); break;
            }
            free(t);
            b = m;
        }
        char *text = sb_take(&b);
        cJSON *prompt = json_parse(text, strlen(text));
        if (prompt) {
            validation v;
            validate_prompt(prompt, NULL, &v);
            assert_true(v.ok || v.error);
            parsed++;
            accepted += v.ok;
            char *err = json_print(v.error), *ne = json_print(v.node_errors), *pr = json_print(prompt);
            assert_non_null(err); assert_non_null(ne); assert_non_null(pr);
            free(err); free(ne); free(pr);
            validation_free(&v);
            cJSON_Delete(prompt);
        }
        free(text);
    }
    free(seed);
    assert_true(parsed > 600);   /* enough of them reach validation to mean something */
    fprintf(stderr, "mutated prompts: %d parsed, %d valid\n", parsed, accepted);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_class),
        cmocka_unit_test(test_no_outputs_no_prompt_bad_id),
        cmocka_unit_test(test_steps_zero),
        cmocka_unit_test(test_lists_and_floats),
        cmocka_unit_test(test_type_mismatch_and_conversion),
        cmocka_unit_test(test_missing_link_and_required),
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_load_image_missing),
        cmocka_unit_test(test_partial_and_normalised),
        cmocka_unit_test(test_big_int_bounds),
        cmocka_unit_test(test_partial_targets),
        cmocka_unit_test(test_deep_chains),
        cmocka_unit_test(test_mutated_prompts),
    };
    int rc = cmocka_run_group_tests(tests, setup_once, NULL);
    graph_stop();
    return rc;
}
