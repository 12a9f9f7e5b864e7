/* test_core_nodes.c -- the core pack: /object_info equal to ComfyUI's entries, and the
 * cheap nodes run end to end (PNG in, PNG out with metadata, file naming, latents). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/image.h"
#include "support/graph_support.h"
#include "../../nodes/core/core.h"
#include "../../nodes/sd/sd.h"
#include "graph/graph.h"

static int setup_once(void **state) { (void)state; gs_setup(); return 0; }

/* Every core node of comfyui-core-nodes.json: ours from the core pack, the others
 * (model nodes, not ours yet) as stand-ins declared from the same JSON, which checks
 * the registry's V1 and V3 serialisation on all 36. */
static void test_object_info_equals_comfyui(void **state) {
    (void)state;
    for (const cJSON *e = gs_spec_nodes()->child; e; e = e->next) {
        const char *const mine[] = { e->string };
        const size_t i = 0;
        graph_reply r = graph_object_info(mine[i]);
        cJSON *got = json_parse(r.body, strlen(r.body));
        char *a = json_print(cJSON_GetObjectItem(got, mine[i]));
        char *b = json_print(cJSON_GetObjectItem(gs_spec_nodes(), mine[i]));
        if (strcmp(a, b)) fprintf(stderr, "%s\n got: %s\nwant: %s\n", mine[i], a, b);
        assert_string_equal(a, b);   /* same keys, same order, same values */
        free(a); free(b); free(r.body);
        cJSON_Delete(got);
    }
    graph_reply r = graph_object_info("NoSuchNode");
    assert_string_equal(r.body, "{}");
    free(r.body);
}

static void write_input_png(const char *name) {
    unsigned char px[2 * 2 * 4] = { 0, 255, 100, 255,   255, 0, 0, 0,
                                    10, 20, 30, 128,    40, 50, 60, 255 };
    img8 im = { 2, 2, 4, px };
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/input/%s", gs_root, name);
    assert_int_equal(png_write_file(path, &im, NULL, 0, 4, err, sizeof err), 0);
}

static void test_load_invert_save(void **state) {
    (void)state;
    write_input_png("in.png");
    graph_reply r = graph_object_info("LoadImage");   /* the combo lists the input folder */
    assert_non_null(strstr(r.body, "\"image\": [[\"in.png\"], {\"image_upload\": true}]"));
    free(r.body);
    char path[512];
    snprintf(path, sizeof path, "%s/output/ComfyUI_00041_.png", gs_root);
    fclose(fopen(path, "w"));   /* the counter continues after existing files */
    size_t cur = gs_event_count();
    int st;
    cJSON *b = gs_post("{\"client_id\": \"n\", \"prompt\": {\"1\": {\"class_type\": \"LoadImage\", \"inputs\": {\"image\": \"in.png\"}}, "
                       "\"2\": {\"class_type\": \"ImageInvert\", \"inputs\": {\"image\": [\"1\", 0]}}, "
                       "\"3\": {\"class_type\": \"SaveImage\", \"inputs\": {\"images\": [\"2\", 0], \"filename_prefix\": \"ComfyUI\"}}, "
                       "\"4\": {\"class_type\": \"TestSink\", \"inputs\": {\"value\": 1, \"seed\": 18446744073709551615}}}, "
                       "\"extra_data\": {\"extra_pnginfo\": {\"workflow\": {\"id\": \"w1\", \"nodes\": []}}}}", &st);
    assert_int_equal(st, 200);
    char *id = strdup(cJSON_GetObjectItem(b, "prompt_id")->valuestring);
    cJSON_Delete(b);
    cJSON *d = gs_wait_event("executed", id, &cur);
    while (d && strcmp(cJSON_GetObjectItem(d, "node")->valuestring, "3")) { cJSON_Delete(d); d = gs_wait_event("executed", id, &cur); }
    assert_non_null(d);
    char *out = json_print(cJSON_GetObjectItem(d, "output"));
    assert_string_equal(out, "{\"images\": [{\"filename\": \"ComfyUI_00042_.png\", \"subfolder\": \"\", \"type\": \"output\"}]}");
    free(out);
    cJSON_Delete(d);
    gs_wait_done(id, &cur);

    snprintf(path, sizeof path, "%s/output/ComfyUI_00042_.png", gs_root);
    size_t len;
    char *file = gs_read_file(path, &len);
    assert_non_null(file);
    img8 im;
    char err[256];
    assert_int_equal(image_decode((unsigned char *)file, len, &im, err, sizeof err), 0);
    assert_int_equal(im.channels, 3);
    assert_int_equal(im.px[0], 255);    /* 1 - 0 */
    assert_int_equal(im.px[1], 0);      /* 1 - 1 */
    assert_true(im.px[2] >= 154 && im.px[2] <= 155);
    img8_free(&im);
    png_text_kv *kv;
    int n = png_read_texts((unsigned char *)file, len, &kv);
    assert_int_equal(n, 2);
    assert_string_equal(kv[0].key, "prompt");
    assert_non_null(strstr(kv[0].text, "\"seed\": 18446744073709551615"));
    assert_string_equal(kv[1].key, "workflow");
    assert_string_equal(kv[1].text, "{\"id\": \"w1\", \"nodes\": []}");
    png_texts_free(kv, n);
    free(file);
    free(id);
}

static void test_masks_and_latents(void **state) {
    (void)state;
    write_input_png("m.png");
    size_t cur = gs_event_count();
    int st;
    cJSON *b = gs_post("{\"client_id\": \"n\", \"prompt\": {"
                       "\"1\": {\"class_type\": \"LoadImageMask\", \"inputs\": {\"image\": \"m.png\", \"channel\": \"alpha\"}}, "
                       "\"2\": {\"class_type\": \"EmptyLatentImage\", \"inputs\": {\"width\": 64, \"height\": 48, \"batch_size\": 2}}, "
                       "\"3\": {\"class_type\": \"SetLatentNoiseMask\", \"inputs\": {\"samples\": [\"2\", 0], \"mask\": [\"1\", 0]}}, "
                       "\"4\": {\"class_type\": \"RepeatLatentBatch\", \"inputs\": {\"samples\": [\"3\", 0], \"amount\": 3}}, "
                       "\"5\": {\"class_type\": \"LatentFromBatch\", \"inputs\": {\"samples\": [\"4\", 0], \"batch_index\": -2, \"length\": 5}}, "
                       "\"6\": {\"class_type\": \"LatentUpscaleBy\", \"inputs\": {\"samples\": [\"5\", 0], \"upscale_method\": \"bilinear\", \"scale_by\": 1.5}}, "
                       "\"7\": {\"class_type\": \"SaveLatent\", \"inputs\": {\"samples\": [\"6\", 0], \"filename_prefix\": \"latents/t\"}}}}", &st);
    assert_int_equal(st, 200);
    char *id = strdup(cJSON_GetObjectItem(b, "prompt_id")->valuestring);
    cJSON_Delete(b);
    gs_wait_done(id, &cur);
    graph_reply r = graph_get_history_item(id);
    assert_non_null(strstr(r.body, "\"7\": {\"latents\": [{\"filename\": \"t_00001_.latent\", \"subfolder\": \"latents\", \"type\": \"output\"}]}"));
    free(r.body);
    free(id);

    /* load it back from the input folder: (2, 4, 9, 12) after 6x8 * 1.5 */
    char from[512], to[512];
    snprintf(from, sizeof from, "%s/output/latents/t_00001_.latent", gs_root);
    snprintf(to, sizeof to, "%s/input/t.latent", gs_root);
    assert_int_equal(rename(from, to), 0);
    b = gs_post("{\"client_id\": \"n\", \"prompt\": {\"1\": {\"class_type\": \"LoadLatent\", \"inputs\": {\"latent\": \"t.latent\"}}, "
                "\"2\": {\"class_type\": \"LatentUpscale\", \"inputs\": {\"samples\": [\"1\", 0], \"upscale_method\": \"nearest-exact\", \"width\": 0, \"height\": 144, \"crop\": \"disabled\"}}, "
                "\"3\": {\"class_type\": \"SaveLatent\", \"inputs\": {\"samples\": [\"2\", 0], \"filename_prefix\": \"back\"}}}}", &st);
    assert_int_equal(st, 200);
    id = strdup(cJSON_GetObjectItem(b, "prompt_id")->valuestring);
    cJSON_Delete(b);
    gs_wait_done(id, &cur);
    r = graph_get_job(id);
    assert_non_null(strstr(r.body, "\"status\": \"completed\""));
    free(r.body);
    free(id);
    snprintf(from, sizeof from, "%s/output/back_00001_.latent", gs_root);
    struct stat sb;
    assert_int_equal(stat(from, &sb), 0);
}

static void test_save_outside_output_fails(void **state) {
    (void)state;
    size_t cur = gs_event_count();
    int st;
    cJSON *b = gs_post("{\"client_id\": \"n\", \"prompt\": {\"1\": {\"class_type\": \"LoadImage\", \"inputs\": {\"image\": \"in.png\"}}, "
                       "\"3\": {\"class_type\": \"SaveImage\", \"inputs\": {\"images\": [\"1\", 0], \"filename_prefix\": \"../escape\"}}}}", &st);
    assert_int_equal(st, 200);
    char *id = strdup(cJSON_GetObjectItem(b, "prompt_id")->valuestring);
    cJSON_Delete(b);
    cJSON *d = gs_wait_event("execution_error", id, &cur);
    assert_non_null(d);
    assert_non_null(strstr(cJSON_GetObjectItem(d, "exception_message")->valuestring, "Saving image outside the output folder is not allowed"));
    cJSON_Delete(d);
    free(id);
}

/* bislerp as ComfyUI computes it: orthogonal unit vectors blend along the arc
 * ((1,0) and (0,1) halfway -> (0.7071, 0.7071)); parallel ones take the first
 * vector unchanged (ComfyUI's "same direction" edge case). */
static void test_bislerp(void **state) {
    (void)state;
    int64_t ne[4] = { 1, 2, 1, 2 };
    tensor *x = tensor_new(DT_F32, 4, ne);
    float *v = x->data;
    v[0] = 1; v[1] = 0;      /* channel 0 at x = 0, 1 */
    v[2] = 0; v[3] = 1;      /* channel 1 */
    char err[128];
    tensor *y = core_upscale(x, 3, 1, "bislerp", "disabled", err, sizeof err);
    assert_non_null(y);
    assert_int_equal(y->ne[3], 3);
    const float *o = y->data;
    const float want0[3] = { 1.0f, 0.70710678f, 0.0f }, want1[3] = { 0.0f, 0.70710678f, 1.0f };
    for (int i = 0; i < 3; i++) {
        assert_float_equal(o[i], want0[i], 1e-5);
        assert_float_equal(o[3 + i], want1[i], 1e-5);
    }
    tensor_free(y);
    v[1] = 3; v[3] = 3; v[2] = 1;    /* parallel: (1,1) and (3,3) */
    y = core_upscale(x, 4, 1, "bislerp", "disabled", err, sizeof err);
    o = y->data;
    const float par[4] = { 1.0f, 1.0f, 1.0f, 3.0f };   /* sources 0, 0.25, 0.75, 1 -> floor pixel */
    for (int i = 0; i < 4; i++) assert_float_equal(o[i], par[i], 1e-6);
    tensor_free(y);
    assert_null(core_upscale(x, 3, 2, "no-such-method", "disabled", err, sizeof err));
    tensor_free(x);
}

/* Runs one node function directly on values (no prompt): linked inputs by name, the
 * constants as JSON; returns the first output (a new reference) or NULL. */
static ci_value *call_direct(const ci_node_def *def, const char **names, ci_value **vals, int n,
                             const char *consts) {
    reg_node reg = { def, json_parse(def->inputs, strlen(def->inputs)) };
    vlist lists[4] = {0}, outs[4] = {0};
    for (int i = 0; i < n; i++) vlist_push(&lists[i], value_ref(vals[i]));
    cJSON *cj = json_parse(consts, strlen(consts));
    call_rec c = { .base = { &graph_host }, .node = &reg, .node_id = "1", .prompt_id = "p",
                   .consts = cj, .in_names = names, .in_lists = lists, .n_in = n, .index = 0, .outs = outs };
    int rc = def->run(&c.base);
    ci_value *out = rc == 0 && outs[0].n ? value_ref(outs[0].v[0]) : NULL;
    for (int i = 0; i < 4; i++) { vlist_clear(&lists[i]); vlist_clear(&outs[i]); }
    cJSON_Delete(cj); cJSON_Delete(reg.inputs); cJSON_Delete(c.ui);
    free(c.err_type); free(c.err_msg);
    return out;
}

static ci_value *make_cond(const float *cond, int64_t tokens, const float *pooled) {
    sd_conditioning *k = calloc(1, sizeof *k);
    k->n = 1;
    k->items = calloc(1, sizeof *k->items);
    int64_t ce[3] = { 1, tokens, 2 }, pe[2] = { 1, 2 };
    k->items[0].cond = tensor_new(DT_F32, 3, ce);
    memcpy(k->items[0].cond->data, cond, (size_t)(tokens * 2) * sizeof(float));
    k->items[0].pooled = tensor_new(DT_F32, 2, pe);
    memcpy(k->items[0].pooled->data, pooled, 2 * sizeof(float));
    return graph_host.value_object(SD_TYPE_CONDITIONING, k, sd_conditioning_free);
}

/* ConditioningAverage blends to*s + from*(1-s), from cut or zero-padded to the token
 * count of `to`, pooled outputs alike; ConditioningZeroOut keeps shapes, zeros values. */
static void test_conditioning_arithmetic(void **state) {
    (void)state;
    const float a[4] = { 1, 2, 3, 4 }, pa[2] = { 1, 1 }, b[2] = { 10, 20 }, pb[2] = { 3, 3 };
    ci_value *to = make_cond(a, 2, pa), *from = make_cond(b, 1, pb);
    const char *names[2] = { "conditioning_to", "conditioning_from" };
    ci_value *vals[2] = { to, from };
    ci_value *avg = call_direct(&sd_conditioning_average, names, vals, 2, "{\"conditioning_to_strength\": 0.25}");
    assert_non_null(avg);
    const sd_conditioning *r = graph_host.value_payload(avg, SD_TYPE_CONDITIONING);
    const float want[4] = { 7.75f, 15.5f, 0.75f, 1.0f };
    for (int i = 0; i < 4; i++) assert_float_equal(((float *)r->items[0].cond->data)[i], want[i], 1e-6);
    for (int i = 0; i < 2; i++) assert_float_equal(((float *)r->items[0].pooled->data)[i], 2.5f, 1e-6);
    const char *zname[1] = { "conditioning" };
    ci_value *z = call_direct(&sd_conditioning_zero_out, zname, &to, 1, "{}");
    r = graph_host.value_payload(z, SD_TYPE_CONDITIONING);
    assert_int_equal(r->items[0].cond->ne[1], 2);
    for (int i = 0; i < 4; i++) assert_float_equal(((float *)r->items[0].cond->data)[i], 0.0f, 0);
    value_unref(avg); value_unref(z); value_unref(to); value_unref(from);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_object_info_equals_comfyui),
        cmocka_unit_test(test_load_invert_save),
        cmocka_unit_test(test_masks_and_latents),
        cmocka_unit_test(test_save_outside_output_fails),
        cmocka_unit_test(test_bislerp),
        cmocka_unit_test(test_conditioning_arithmetic),
    };
    int rc = cmocka_run_group_tests(tests, setup_once, NULL);
    graph_stop();
    return rc;
}
