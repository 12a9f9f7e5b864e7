/* reply.c -- answers for the server (status + JSON text) and prompt ids.
 *
 * Prompt ids are canonical lowercase hyphenated UUIDv4 strings, as Python's
 * str(uuid.uuid4()); the random bytes come from OpenSSL's CSPRNG.
 */
#include "graph/graph.h"

#include <stdio.h>
#include <string.h>
#include <openssl/rand.h>

graph_reply reply_json(int status, cJSON *body) {
    graph_reply r = { status, json_print(body) };
    cJSON_Delete(body);
    if (!r.body) r.status = 500;
    return r;
}

graph_reply reply_empty(int status) { return (graph_reply){ status, NULL }; }

int uuid_is_canonical(const char *s) {
    if (!s || strlen(s) != 36) return 0;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) { if (c != '-') return 0; }
        else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
    }
    return 1;
}

void uuid4(char out[37]) {
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) {
        FILE *f = fopen("/dev/urandom", "rb");
        if (!f || fread(b, 1, sizeof b, f) != sizeof b) memset(b, 0x5a, sizeof b);
        if (f) fclose(f);
    }
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}
