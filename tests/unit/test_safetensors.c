/* test_safetensors.c -- safetensors write/read round trip and the state-dict API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/ckpt.h"
#include "io/safetensors.h"

/* A file image: 8-byte length + header JSON + `data_len` bytes of 0xAB. */
static uint8_t *image(const char *json, size_t data_len, size_t *len) {
    size_t h = strlen(json);
    *len = 8 + h + data_len;
    uint8_t *b = malloc(*len);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, json, h);
    memset(b + 8 + h, 0xAB, data_len);
    return b;
}

/* A heap tensor built here, so this test needs nothing from tensor/ but dtype_size. */
static tensor *mk_tensor(dtype dt, int ndim, const int64_t *ne) {
    tensor *t = calloc(1, sizeof *t);
    t->dt = dt;
    t->ndim = ndim;
    t->nbytes = dtype_size(dt);
    for (int i = 0; i < T_MAX_DIMS; i++) t->ne[i] = i < ndim ? ne[i] : 1;
    for (int i = 0; i < ndim; i++) t->nbytes *= (size_t)ne[i];
    t->data = calloc(1, t->nbytes);
    return t;
}

/* Opens an image, expecting failure with `needle` in the message. */
static void expect_error(const char *json, size_t data_len, const char *needle) {
    size_t len;
    uint8_t *b = image(json, data_len, &len);
    char *err = NULL;
    ckpt *c = ckpt_open_memory(b, len, "t.safetensors", &err);
    assert_null(c);
    assert_non_null(err);
    if (!strstr(err, needle)) fail_msg("error '%s' lacks '%s'", err, needle);
    free(err);
    free(b);
}

static void test_roundtrip_all_dtypes(void **state) {
    (void)state;
    char path[] = "/tmp/test_st_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    const char *names[DT_COUNT];
    tensor *ts[DT_COUNT];
    char namebuf[DT_COUNT][32];
    for (int d = 0; d < DT_COUNT; d++) {
        int64_t ne[2] = {3, d + 1};
        ts[d] = mk_tensor((dtype)d, 2, ne);
        for (size_t i = 0; i < ts[d]->nbytes; i++) ((uint8_t *)ts[d]->data)[i] = (uint8_t)(i * 7 + d);
        snprintf(namebuf[d], sizeof namebuf[d], "x.%s\"q", dtype_name((dtype)d));
        names[d] = namebuf[d];
    }
    const char *meta[] = {"format", "pt", "note", "a \"quoted\" value"};
    char err[512];
    assert_int_equal(st_save(path, names, (const tensor *const *)ts, DT_COUNT, meta, 2, err,
                             sizeof err), 0);
    char *e = NULL;
    ckpt *c = ckpt_open(path, &e);
    if (!c) fail_msg("%s", e);
    assert_int_equal(ckpt_count(c), DT_COUNT);
    assert_string_equal(ckpt_meta(c, "note"), "a \"quoted\" value");
    assert_string_equal(ckpt_meta(c, "format"), "pt");
    assert_null(ckpt_meta(c, "absent"));
    for (int d = 0; d < DT_COUNT; d++) {
        const tensor *t = ckpt_get(c, names[d]);
        assert_non_null(t);
        assert_ptr_equal(t, ckpt_at(c, (size_t)d));    /* file order kept */
        assert_int_equal(t->dt, d);
        assert_int_equal(t->ndim, 2);
        assert_int_equal(t->ne[0], 3);
        assert_int_equal(t->ne[1], d + 1);
        assert_int_equal(t->ne[2], 1);
        assert_int_equal(t->nbytes, ts[d]->nbytes);
        assert_int_equal((uintptr_t)t->data % dtype_size(t->dt), 0);
        assert_memory_equal(t->data, ts[d]->data, t->nbytes);
        free(ts[d]->data);
        free(ts[d]);
    }
    ckpt_close(c);
    unlink(path);
}

static void test_header_layout(void **state) {
    (void)state;
    st_item it[2] = {{"a", DT_F16, 2, {2, 3}}, {"b", DT_I64, 0, {0}}};
    const char *meta[] = {"format", "pt"};
    size_t len;
    uint8_t *h = st_header(it, 2, meta, 1, &len);
    assert_non_null(h);
    assert_int_equal(len % 8, 0);
    const char *want = "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F16\",\"shape\":"
                       "[2,3],\"data_offsets\":[0,12]},\"b\":{\"dtype\":\"I64\",\"shape\":[],"
                       "\"data_offsets\":[12,20]}}";
    assert_memory_equal(h + 8, want, strlen(want));
    for (size_t i = 8 + strlen(want); i < len; i++) assert_int_equal(h[i], ' ');
    assert_int_equal(h[0], (uint8_t)(len - 8));
    free(h);
}

static void test_unaligned_data_is_copied(void **state) {
    (void)state;
    /* 1-byte U8 tensor first, then an F32 whose data starts at an odd address. */
    char json[128] = "{\"u\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                     "\"f\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1,9]}}";
    while ((8 + strlen(json)) % 4) strcat(json, " ");   /* data buffer 4-aligned */
    size_t h = strlen(json), len;
    uint8_t *b = image(json, 9, &len);
    assert_int_equal((8 + h) % 4, 0);   /* so offset 1 is misaligned for F32 */
    char *err = NULL;
    ckpt *c = ckpt_open_memory(b, len, "m", &err);
    assert_non_null(c);
    const tensor *f = ckpt_get(c, "f");
    assert_int_equal((uintptr_t)f->data % 4, 0);
    assert_memory_equal(f->data, b + 8 + h + 1, 8);
    assert_ptr_equal(ckpt_get(c, "u")->data, b + 8 + h);   /* aligned: a view */
    ckpt_close(c);
    free(b);
}

static void test_prefix_and_want(void **state) {
    (void)state;
    const char *json = "{\"m.a.w\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[0,8]},"
                       "\"v.b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
                       "\"m.c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}";
    size_t len;
    uint8_t *b = image(json, 16, &len);
    char *err = NULL;
    ckpt *c = ckpt_open_memory(b, len, "sd.safetensors", &err);
    assert_non_null(c);
    size_t n = ckpt_count(c), seen = 0;
    for (size_t i = ckpt_next(c, "m.", 0); i < n; i = ckpt_next(c, "m.", i + 1)) {
        assert_memory_equal(ckpt_key(c, i), "m.", 2);
        seen++;
    }
    assert_int_equal(seen, 2);
    assert_int_equal(ckpt_count_prefix(c, "v."), 1);
    assert_int_equal(ckpt_count_prefix(c, "z"), 0);
    int64_t ok[2] = {1, 2}, bad[2] = {2, 1};
    assert_non_null(ckpt_want(c, &err, 2, ok, "m.%s.w", "a"));
    assert_null(err);
    assert_null(ckpt_want(c, &err, 2, bad, "m.%s.w", "a"));
    assert_string_equal(err, "sd.safetensors: tensor 'm.a.w' has shape [1,2], expected [2,1]");
    free(err);
    assert_null(ckpt_want(c, &err, 0, NULL, "m.%d", 7));
    assert_string_equal(err, "sd.safetensors: missing tensor 'm.7'");
    free(err);
    ckpt_close(c);
    free(b);
}

static void test_empty_and_scalar(void **state) {
    (void)state;
    const char *json = "{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]},"
                       "\"z\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[8,8]}}";
    size_t len;
    uint8_t *b = image(json, 8, &len);
    char *err = NULL;
    ckpt *c = ckpt_open_memory(b, len, "m", &err);
    assert_non_null(c);
    assert_int_equal(ckpt_get(c, "s")->ndim, 0);
    assert_int_equal(ckpt_get(c, "s")->nbytes, 8);
    assert_int_equal(ckpt_get(c, "z")->nbytes, 0);
    assert_int_equal(ckpt_meta_count(c), 0);
    ckpt_close(c);
    free(b);
}

static void test_strict_header_errors(void **state) {
    (void)state;
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
                 "hold 4 bytes but dtype F32 and its shape need 8");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", 6, "overlap");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
                 "4 unused bytes before tensor 'a'");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 6,
                 "2 bytes after the last tensor");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 2,
                 "outside the 2-byte data buffer");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4,
                 "end before they begin");
    expect_error("{\"a\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                 "unsupported dtype \"Q4\"");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
                 "shape[0] is not a valid size");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
                 "shape[0] is not a valid size");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
                 "data_offsets must be two");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
                 "6 dims");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
                 "duplicate tensor name 'a'");
    expect_error("{\"__metadata__\":{\"k\":1}}", 0, "not a string");
    expect_error("{\"a\":1}", 0, "not a JSON object");
    expect_error("{\"a\":{\"dtype\":\"F32\"", 0, "not valid JSON");
    expect_error("{} x", 0, "data after its JSON");
    expect_error("{\"\xff\":1}", 0, "not valid UTF-8");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],"
                 "\"data_offsets\":[0,4]}}", 4, "is not a valid size");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
                 "\"data_offsets\":[0,4]}}", 4, "shape too large");
}

static void test_bad_lengths(void **state) {
    (void)state;
    char *err = NULL;
    assert_null(ckpt_open_memory("abc", 3, "x", &err));
    assert_non_null(strstr(err, "too short"));
    free(err);
    uint8_t b[16] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, '{', '}'};
    assert_null(ckpt_open_memory(b, sizeof b, "x", &err));
    assert_non_null(strstr(err, "runs past the end of the file"));
    free(err);
    const char *text = "root:x:0:0:root:/root:/bin/bash\n";
    assert_null(ckpt_open_memory(text, strlen(text), "x", &err));
    assert_non_null(strstr(err, "unrecognised file format"));
    free(err);
    assert_null(ckpt_open("/nonexistent/file.safetensors", &err));
    assert_non_null(strstr(err, "cannot open"));
    free(err);
    assert_null(ckpt_open("/tmp", &err));
    assert_non_null(strstr(err, "not a regular file"));
    free(err);
    char fifo[] = "/tmp/test_st_fifo_XXXXXX";      /* opening must not wait for a writer */
    int fd = mkstemp(fifo);
    close(fd);
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_null(ckpt_open(fifo, &err));
    assert_non_null(strstr(err, "not a regular file"));
    free(err);
    unlink(fifo);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_all_dtypes),
        cmocka_unit_test(test_header_layout),
        cmocka_unit_test(test_unaligned_data_is_copied),
        cmocka_unit_test(test_prefix_and_want),
        cmocka_unit_test(test_empty_and_scalar),
        cmocka_unit_test(test_strict_header_errors),
        cmocka_unit_test(test_bad_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
