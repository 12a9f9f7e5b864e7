/* test_ws_frame.c -- RFC 6455 frame headers and the handshake key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "server/ws_frame.h"

static void test_accept_key(void **state) {
    (void)state;
    char out[29];
    ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);        /* RFC 6455 section 1.3 */
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_server_headers(void **state) {
    (void)state;
    uint8_t h[10];
    assert_int_equal(ws_frame_header(h, WS_TEXT, 5), 2);
    assert_int_equal(h[0], 0x81);
    assert_int_equal(h[1], 5);
    assert_int_equal(ws_frame_header(h, WS_BINARY, 300), 4);
    assert_int_equal(h[1], 126);
    assert_int_equal(h[2] << 8 | h[3], 300);
    assert_int_equal(ws_frame_header(h, WS_BINARY, 70000), 10);
    assert_int_equal(h[1], 127);
    assert_int_equal(h[7] << 16 | h[8] << 8 | h[9], 70000);
}

static void test_parse_masked(void **state) {
    (void)state;
    /* RFC 6455 5.7: a masked "Hello" */
    uint8_t f[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    ws_frame fr;
    for (size_t n = 0; n < 6; n++) assert_int_equal(ws_frame_parse(f, n, 1, &fr), 0);   /* need more */
    assert_int_equal(ws_frame_parse(f, sizeof f, 1, &fr), 6);
    assert_true(fr.fin && fr.masked && fr.opcode == WS_TEXT && fr.len == 5);
    ws_unmask(f + 6, 5, fr.mask, 0);
    assert_memory_equal(f + 6, "Hello", 5);
}

static void test_parse_lengths(void **state) {
    (void)state;
    uint8_t f16[] = {0x82, 0xfe, 0x01, 0x00, 1, 2, 3, 4};
    ws_frame fr;
    assert_int_equal(ws_frame_parse(f16, sizeof f16, 1, &fr), 8);
    assert_int_equal(fr.len, 256);
    uint8_t f64[] = {0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4};
    assert_int_equal(ws_frame_parse(f64, sizeof f64, 1, &fr), 14);
    assert_true(fr.len == (1ull << 32));
    uint8_t top[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    assert_int_equal(ws_frame_parse(top, sizeof top, 1, &fr), -1);
}

static void test_protocol_errors(void **state) {
    (void)state;
    ws_frame fr;
    uint8_t unmasked[] = {0x81, 0x01, 'x'};
    assert_int_equal(ws_frame_parse(unmasked, 3, 1, &fr), -1);
    assert_int_equal(ws_frame_parse(unmasked, 3, 0, &fr), 2);          /* fine for a client */
    uint8_t rsv[] = {0xc1, 0x80, 0, 0, 0, 0};
    assert_int_equal(ws_frame_parse(rsv, sizeof rsv, 1, &fr), -1);
    uint8_t opcode3[] = {0x83, 0x80, 0, 0, 0, 0};
    assert_int_equal(ws_frame_parse(opcode3, sizeof opcode3, 1, &fr), -1);
    uint8_t opcode_b[] = {0x8b, 0x80, 0, 0, 0, 0};
    assert_int_equal(ws_frame_parse(opcode_b, sizeof opcode_b, 1, &fr), -1);
    uint8_t frag_ping[] = {0x09, 0x80, 0, 0, 0, 0};
    assert_int_equal(ws_frame_parse(frag_ping, sizeof frag_ping, 1, &fr), -1);
    uint8_t big_ping[] = {0x89, 0xfe, 0, 126, 0, 0, 0, 0};
    assert_int_equal(ws_frame_parse(big_ping, sizeof big_ping, 1, &fr), -1);
}

static void test_unmask_offset(void **state) {
    (void)state;
    const uint8_t mask[4] = {1, 2, 3, 4};
    uint8_t a[6] = {0}, b[6] = {0};
    ws_unmask(a, 6, mask, 0);
    ws_unmask(b, 2, mask, 0);
    ws_unmask(b + 2, 4, mask, 2);
    assert_memory_equal(a, b, 6);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key),   cmocka_unit_test(test_server_headers),
        cmocka_unit_test(test_parse_masked), cmocka_unit_test(test_parse_lengths),
        cmocka_unit_test(test_protocol_errors), cmocka_unit_test(test_unmask_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
