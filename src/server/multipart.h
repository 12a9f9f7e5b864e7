/* multipart.h -- multipart/form-data bodies (the upload routes).
 *
 * Parts point into the request body, which must outlive them. The parser is strict
 * about structure (boundary lines, header block, closing delimiter) and lenient about
 * header details browsers vary in (quoting, extra parameters).
 */
#ifndef CI_SERVER_MULTIPART_H
#define CI_SERVER_MULTIPART_H

#include <stddef.h>

typedef struct mp_part {
    char name[128];           /* the form field */
    char filename[512];       /* "" when the part carries no filename */
    int has_filename;
    char content_type[128];
    const char *data;
    size_t len;
} mp_part;

/* Parses body using the boundary of content_type. Returns the number of parts (at most
 * max), or -1 when the body is not valid multipart/form-data. */
int multipart_parse(const char *content_type, const char *body, size_t len, mp_part *parts, int max);
/* The first part named `name`, or NULL. */
const mp_part *multipart_get(const mp_part *parts, int n, const char *name);

#endif
