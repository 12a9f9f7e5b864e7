/* test_fpconv.c -- narrow float conversions against the compiler's _Float16 and
 * against exhaustive round trips of the 8-bit formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "base/fpconv.h"

static float from_bits(uint32_t x) { float f; memcpy(&f, &x, 4); return f; }

/* GCC's _Float16 cast rounds to nearest even: compare on a stride through all f32
 * patterns plus the regions where the bit tricks switch paths. */
static void test_f16_matches_compiler(void **state) {
    (void)state;
    for (uint64_t x = 0; x <= 0xffffffffULL; x += 997) {
        float f = from_bits((uint32_t)x);
        _Float16 h = (_Float16)f;
        uint16_t want;
        memcpy(&want, &h, 2);
        uint16_t got = fp_f32_to_f16(f);
        if (isnan(f)) assert_true((got & 0x7c00) == 0x7c00 && (got & 0x3ff));
        else if (got != want) fail_msg("f32 %08llx: got %04x want %04x", (unsigned long long)x, got, want);
    }
    const uint32_t edges[] = {0x477fe000, 0x477fefff, 0x477ff000, 0x47800000, 0x38800000,
                              0x387fffff, 0x33000000, 0x33000001, 0x337fffff, 0x0, 0x80000000};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        _Float16 h = (_Float16)from_bits(edges[i]);
        uint16_t want;
        memcpy(&want, &h, 2);
        assert_int_equal(fp_f32_to_f16(from_bits(edges[i])), want);
    }
}

static void test_f16_widen_exact(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = fp_f16_to_f32((uint16_t)h);
        if (isnan(f)) { assert_true((h & 0x7c00) == 0x7c00 && (h & 0x3ff)); continue; }
        assert_int_equal(fp_f32_to_f16(f), h);
    }
}

static void test_bf16(void **state) {
    (void)state;
    assert_int_equal(fp_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(fp_f32_to_bf16(from_bits(0x3f808000)), 0x3f80);   /* tie to even */
    assert_int_equal(fp_f32_to_bf16(from_bits(0x3f818000)), 0x3f82);   /* tie to even */
    assert_int_equal(fp_f32_to_bf16(from_bits(0x3f808001)), 0x3f81);
    assert_int_equal(fp_f32_to_bf16(from_bits(0x7f7fffff)), 0x7f80);   /* overflow: inf */
    assert_true(isnan(fp_bf16_to_f32(fp_f32_to_bf16(NAN))));
    for (uint32_t h = 0; h < 0x10000; h++)
        if (!isnan(fp_bf16_to_f32((uint16_t)h))) assert_int_equal(fp_f32_to_bf16(fp_bf16_to_f32((uint16_t)h)), h);
}

static void test_f8(void **state) {
    (void)state;
    for (unsigned v = 0; v < 256; v++) {
        float a = fp_e4m3_to_f32((uint8_t)v), b = fp_e5m2_to_f32((uint8_t)v);
        if (isnan(a)) assert_int_equal(v & 0x7f, 0x7f);
        else assert_int_equal(fp_f32_to_e4m3(a), v);
        if (!isnan(b)) assert_int_equal(fp_f32_to_e5m2(b), v);
    }
    assert_true(fp_e4m3_to_f32(0x7e) == 448.0f);
    assert_int_equal(fp_f32_to_e4m3(464.0f), 0x7e);      /* tie: to even (448) */
    assert_int_equal(fp_f32_to_e4m3(470.0f), 0x7f);      /* rounds past 448: NaN */
    assert_int_equal(fp_f32_to_e4m3(-1000.0f), 0xff);
    assert_true(fp_e5m2_to_f32(0x7b) == 57344.0f);
    assert_int_equal(fp_f32_to_e5m2(1e6f), 0x7c);        /* inf */
    assert_int_equal(fp_f32_to_e4m3(0x1p-10f), 0x00);    /* half the smallest subnormal: even */
    assert_int_equal(fp_f32_to_e4m3(0x1.8p-9f), 0x02);   /* 1.5 subnormal units: to even (2) */
    assert_int_equal(fp_f32_to_e5m2(0x1p-16f), 0x01);    /* smallest e5m2 subnormal */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_matches_compiler),
        cmocka_unit_test(test_f16_widen_exact),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_f8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
