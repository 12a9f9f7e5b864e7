/* ws_frame.c -- see ws_frame.h. */
#include "server/ws_frame.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

int ws_frame_parse(const uint8_t *buf, size_t n, int require_mask, ws_frame *f) {
    if (n < 2) return 0;
    f->fin = buf[0] >> 7;
    f->opcode = buf[0] & 0x0f;
    if (buf[0] & 0x70) return -1;                      /* no extensions negotiated */
    int control = f->opcode & 0x8;
    if (f->opcode > WS_BINARY && !(control && f->opcode <= WS_PONG)) return -1;
    f->masked = buf[1] >> 7;
    if (require_mask && !f->masked) return -1;
    uint64_t len = buf[1] & 0x7f;
    size_t pos = 2;
    if (len == 126) {
        if (n < 4) return 0;
        len = (uint64_t)buf[2] << 8 | buf[3];
        pos = 4;
    } else if (len == 127) {
        if (n < 10) return 0;
        len = 0;
        for (int i = 0; i < 8; i++) len = len << 8 | buf[2 + i];
        if (len >> 63) return -1;
        pos = 10;
    }
    if (control && (!f->fin || len > 125)) return -1;
    if (f->masked) {
        if (n < pos + 4) return 0;
        memcpy(f->mask, buf + pos, 4);
        pos += 4;
    }
    f->len = len;
    f->header_len = pos;
    return (int)pos;
}

void ws_unmask(uint8_t *data, size_t n, const uint8_t mask[4], uint64_t offset) {
    for (size_t i = 0; i < n; i++) data[i] ^= mask[(offset + i) & 3];
}

size_t ws_frame_header(uint8_t out[10], int opcode, uint64_t len) {
    out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

void ws_accept_key(const char *key, char out[29]) {
    char joined[256];
    snprintf(joined, sizeof joined, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)joined, strlen(joined), digest);
    EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
}
