/* test_json.c -- exact integers through cJSON and Python-style printing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/json.h"

static void roundtrip(const char *in, const char *want) {
    cJSON *j = json_parse(in, strlen(in));
    assert_non_null(j);
    char *out = json_print(j);
    assert_string_equal(out, want);
    free(out);
    cJSON_Delete(j);
}

static void test_big_integers(void **state) {
    (void)state;
    roundtrip("{\"a\":18446744073709551615,\"b\":-9223372036854775808,\"c\":123456789012345678901234567890}",
              "{\"a\": 18446744073709551615, \"b\": -9223372036854775808, \"c\": 123456789012345678901234567890}");
    const char *t = "[18446744073709551615, 9223372036854775807, -1]";
    cJSON *j = json_parse(t, strlen(t));
    uint64_t u;
    int64_t i;
    assert_int_equal(json_get_u64(cJSON_GetArrayItem(j, 0), &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(json_get_i64(cJSON_GetArrayItem(j, 0), &i), -1);
    assert_int_equal(json_get_i64(cJSON_GetArrayItem(j, 1), &i), 0);
    assert_true(i == INT64_MAX);
    assert_int_equal(json_get_u64(cJSON_GetArrayItem(j, 2), &u), -1);
    assert_true(json_num_cmp(cJSON_GetArrayItem(j, 0), cJSON_GetArrayItem(j, 1)) > 0);
    cJSON_Delete(j);
    cJSON *n = json_new_uint(UINT64_MAX);
    char *s = json_print(n);
    assert_string_equal(s, "18446744073709551615");
    free(s);
    cJSON_Delete(n);
}

static void test_python_floats_and_strings(void **state) {
    (void)state;
    roundtrip("[8.0, 0.1, 1e-05, 0.0001, 1e16, 1e15, 100, 2.5e-7, -0.0, 1.5, 3.14159]",
              "[8.0, 0.1, 1e-05, 0.0001, 1e+16, 1000000000000000.0, 100, 2.5e-07, -0.0, 1.5, 3.14159]");
    roundtrip("{\"t\": \"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\n\", \"e\": {}, \"l\": [], \"n\": null, \"b\": true}",
              "{\"t\": \"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\n\", \"e\": {}, \"l\": [], \"n\": null, \"b\": true}");
    roundtrip("{\"a\": 1, \"b\": 2, \"a\": 3}", "{\"a\": 3, \"b\": 2}");   /* Python: last wins */
    assert_null(json_parse("{\"a\": 1} x", 10));
    assert_null(json_parse("{\"a\": ", 6));
}

static void test_python_repr(void **state) {
    (void)state;
    const char *t = "[\"it's\", \"a\", 1, 2.0, true, null, {\"k\": \"v\"}]";
    cJSON *j = json_parse(t, strlen(t));
    char *r = json_py_repr(j);
    assert_string_equal(r, "[\"it's\", 'a', 1, 2.0, True, None, {'k': 'v'}]");
    free(r);
    r = json_py_str(cJSON_GetArrayItem(j, 1));
    assert_string_equal(r, "a");
    free(r);
    cJSON_Delete(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_big_integers),
        cmocka_unit_test(test_python_floats_and_strings),
        cmocka_unit_test(test_python_repr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
