/* test_http.c -- the server's pure helpers: percent-decoding, query strings, Python
 * float printing, multipart bodies, content types, path confinement. */
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

#include "server/http.h"
#include "server/mime.h"
#include "server/multipart.h"
#include "server/safepath.h"

static void expect_decode(const char *in, int plus, const char *want) {
    char *got = http_decode(in, strlen(in), plus);
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_decode(void **state) {
    (void)state;
    expect_decode("a%2Fb%20c", 0, "a/b c");
    expect_decode("%2e%2E", 0, "..");
    expect_decode("a+b", 0, "a+b");
    expect_decode("a+b", 1, "a b");
    expect_decode("%41", 0, "A");
    expect_decode("%4", 0, NULL);
    expect_decode("%", 0, NULL);
    expect_decode("%zz", 0, NULL);
    expect_decode("a%00b", 0, NULL);     /* no NUL bytes smuggled into paths */
}

static void test_query(void **state) {
    (void)state;
    const char *q = "filename=a%20b.png&type=&subfolder=x+y&flag&filename=second";
    char *v = http_query_get(q, "filename");
    assert_string_equal(v, "a b.png");
    free(v);
    v = http_query_get(q, "type");
    assert_string_equal(v, "");
    free(v);
    v = http_query_get(q, "subfolder");
    assert_string_equal(v, "x y");
    free(v);
    v = http_query_get(q, "flag");
    assert_string_equal(v, "");
    free(v);
    assert_null(http_query_get(q, "missing"));
    assert_null(http_query_get("", "x"));
}

static void expect_py(double v, const char *want) {
    char buf[64];
    http_py_float(v, buf, sizeof buf);
    assert_string_equal(buf, want);
}

static void test_py_float(void **state) {
    (void)state;
    expect_py(8.0, "8.0");
    expect_py(0.1, "0.1");
    expect_py(1e-05, "1e-05");
    expect_py(104857600.0, "104857600.0");
    expect_py(1712345678.12, "1712345678.12");
    expect_py(1e16, "1e+16");
    expect_py(1e10, "10000000000.0");
    expect_py(-2.5, "-2.5");
    expect_py(0.0001, "0.0001");
    expect_py(1.5e-7, "1.5e-07");
}

static void test_multipart(void **state) {
    (void)state;
    const char body[] = "--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a \\\"b\\\".png\"\r\n"
                        "Content-Type: image/png\r\n\r\n\x89PNG\r\n--XyZ\r\n"
                        "Content-Disposition: form-data; name=\"subfolder\"\r\n\r\npasted\r\n"
                        "--XyZ\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n--XyZ--\r\n";
    mp_part parts[8];
    int n = multipart_parse("multipart/form-data; boundary=XyZ", body, sizeof body - 1, parts, 8);
    assert_int_equal(n, 3);
    const mp_part *img = multipart_get(parts, n, "image");
    assert_non_null(img);
    assert_true(img->has_filename);
    assert_string_equal(img->filename, "a \"b\".png");
    assert_string_equal(img->content_type, "image/png");
    assert_int_equal(img->len, 4);
    assert_memory_equal(img->data, "\x89PNG", 4);
    const mp_part *sub = multipart_get(parts, n, "subfolder");
    assert_false(sub->has_filename);
    assert_int_equal(sub->len, 6);
    assert_int_equal(multipart_get(parts, n, "empty")->len, 0);
    assert_null(multipart_get(parts, n, "nope"));
    /* quoted boundary, and garbage */
    assert_int_equal(multipart_parse("multipart/form-data; boundary=\"XyZ\"", body, sizeof body - 1, parts, 8), 3);
    assert_int_equal(multipart_parse("application/json", body, sizeof body - 1, parts, 8), -1);
    assert_int_equal(multipart_parse("multipart/form-data; boundary=Q", body, sizeof body - 1, parts, 8), -1);
    assert_int_equal(multipart_parse("multipart/form-data; boundary=XyZ", body, 40, parts, 8), -1);
    assert_int_equal(multipart_parse(NULL, body, sizeof body - 1, parts, 8), -1);
}

static void test_mime(void **state) {
    (void)state;
    assert_string_equal(mime_guess("a/b.PNG"), "image/png");
    assert_string_equal(mime_guess("x.webp"), "image/webp");
    assert_null(mime_guess("noext"));
    assert_null(mime_guess("dir.d/noext"));
    assert_true(mime_dangerous(mime_guess("x.html")));
    assert_true(mime_dangerous(mime_guess("x.svg")));
    assert_true(mime_dangerous(mime_guess("x.js")));
    assert_true(mime_dangerous("application/atom+xml"));
    assert_true(mime_dangerous("text/xml; charset=utf-8"));
    assert_false(mime_dangerous("image/png"));
    assert_false(mime_dangerous(NULL));
}

static void test_safepath(void **state) {
    (void)state;
    char root[] = "/tmp/ci-safepath-XXXXXX";
    assert_non_null(mkdtemp(root));
    char sub[PATH_MAX], link[PATH_MAX], out[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/sub", root);
    mkdir(sub, 0755);
    snprintf(link, sizeof link, "%s/out", root);
    assert_int_equal(symlink("/etc", link), 0);
    assert_int_equal(safepath_join(root, "sub/new.png", out, sizeof out), 0);
    assert_true(strstr(out, "/sub/new.png") != NULL);
    assert_int_equal(safepath_join(root, "", out, sizeof out), 0);
    assert_int_equal(safepath_join(root, "a/b/c.png", out, sizeof out), 0);     /* not yet existing */
    assert_int_equal(safepath_join(root, "..", out, sizeof out), -1);
    assert_string_equal(out, "");
    assert_int_equal(safepath_join(root, "sub/../../x", out, sizeof out), -1);
    assert_int_equal(safepath_join(root, "/etc/passwd", out, sizeof out), -1);
    assert_int_equal(safepath_join(root, "out/passwd", out, sizeof out), -1);   /* symlink escape */
    assert_int_equal(safepath_join(root, "out", out, sizeof out), -1);
    assert_int_equal(safepath_join(root, "..x/ok", out, sizeof out), 0);        /* a name, not ".." */
    unlink(link);
    rmdir(sub);
    rmdir(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),  cmocka_unit_test(test_query), cmocka_unit_test(test_py_float),
        cmocka_unit_test(test_multipart), cmocka_unit_test(test_mime),  cmocka_unit_test(test_safepath),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
