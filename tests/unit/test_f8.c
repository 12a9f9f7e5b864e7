/* test_f8.c -- f32 -> F8_E4M3 / F8_E5M2 narrowing: every code round-trips through
 * tensor/half.h's widening, and the rounding edge cases land where torch puts them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "io/f8.h"
#include "tensor/half.h"

static void test_every_code_round_trips(void **state) {
    (void)state;
    for (unsigned v = 0; v < 256; v++) {
        float a = f8e4m3_to_f32((uint8_t)v), b = f8e5m2_to_f32((uint8_t)v);
        if (isnan(a)) assert_int_equal(v & 0x7f, 0x7f);
        else assert_int_equal(f8_from_f32_e4m3(a), v);
        if (!isnan(b)) assert_int_equal(f8_from_f32_e5m2(b), v);
    }
}

static void test_rounding_edges(void **state) {
    (void)state;
    assert_true(f8e4m3_to_f32(0x7e) == 448.0f);
    assert_int_equal(f8_from_f32_e4m3(464.0f), 0x7e);     /* tie: to even (448) */
    assert_int_equal(f8_from_f32_e4m3(470.0f), 0x7f);     /* rounds past 448: NaN */
    assert_int_equal(f8_from_f32_e4m3(-1000.0f), 0xff);
    assert_int_equal(f8_from_f32_e4m3(INFINITY), 0x7f);
    assert_int_equal(f8_from_f32_e4m3(0x1p-10f), 0x00);   /* half the smallest subnormal */
    assert_int_equal(f8_from_f32_e4m3(0x1.8p-9f), 0x02);  /* 1.5 subnormal units: to even */
    assert_int_equal(f8_from_f32_e4m3(1.0625f), 0x38);    /* 1 + 1/16: tie to even (1.0) */
    assert_int_equal(f8_from_f32_e4m3(1.1875f), 0x3a);    /* 1 + 3/16: tie to even (1.25) */
    assert_true(f8e5m2_to_f32(0x7b) == 57344.0f);
    assert_int_equal(f8_from_f32_e5m2(61440.0f), 0x7c);   /* tie past the top: inf */
    assert_int_equal(f8_from_f32_e5m2(1e6f), 0x7c);
    assert_int_equal(f8_from_f32_e5m2(0x1p-16f), 0x01);   /* smallest subnormal */
    assert_int_equal(f8_from_f32_e5m2(-0.0f), 0x80);
    assert_true(isnan(f8e5m2_to_f32(f8_from_f32_e5m2(NAN))));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_round_trips),
        cmocka_unit_test(test_rounding_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
