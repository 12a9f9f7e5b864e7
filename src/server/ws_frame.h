/* ws_frame.h -- RFC 6455 framing: header parsing, masking, server frame headers, the
 * handshake's accept key. Pure functions over buffers, so they are unit-tested alone;
 * ws_hub.c does the socket I/O.
 */
#ifndef CI_SERVER_WS_FRAME_H
#define CI_SERVER_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum { WS_CONT = 0x0, WS_TEXT = 0x1, WS_BINARY = 0x2, WS_CLOSE = 0x8, WS_PING = 0x9, WS_PONG = 0xA };

/* Close codes we send. */
enum { WS_CLOSE_NORMAL = 1000, WS_CLOSE_GOING_AWAY = 1001, WS_CLOSE_PROTOCOL = 1002, WS_CLOSE_TOO_BIG = 1009 };

typedef struct ws_frame {
    int fin;
    int opcode;
    int masked;
    uint8_t mask[4];
    uint64_t len;            /* payload length */
    size_t header_len;
} ws_frame;

/* Parses the frame header at buf. Returns the header length (> 0), 0 when more bytes
 * are needed, or -1 for a protocol error: reserved bits, unknown opcode, a fragmented
 * or oversized (> 125) control frame, a 64-bit length with the top bit set, or (with
 * require_mask, as a server must) an unmasked frame. */
int ws_frame_parse(const uint8_t *buf, size_t n, int require_mask, ws_frame *f);
/* XORs data with the mask; offset is the position of data[0] within the payload. */
void ws_unmask(uint8_t *data, size_t n, const uint8_t mask[4], uint64_t offset);
/* Writes an unmasked, final frame header for a payload of len bytes; returns its size
 * (2, 4 or 10). */
size_t ws_frame_header(uint8_t out[10], int opcode, uint64_t len);
/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(sha1(key + GUID)), 28 chars. */
void ws_accept_key(const char *key, char out[29]);

#endif
