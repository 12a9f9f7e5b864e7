/* download.h -- one file over HTTP(S), put in place only when its sha256 is the expected one.
 *
 * For data the project may not ship but needs at run time (the CLIP vocabulary). The body
 * is streamed into a temporary file beside the destination while it is hashed; only a
 * complete transfer whose digest matches is renamed onto the destination, so a reader
 * never sees a partial, truncated or tampered file, and a failed attempt leaves nothing
 * behind. libcurl does the transfer (redirects followed: Hugging Face answers with one
 * to its CDN; http and https only; TLS verified).
 */
#ifndef CI_BASE_DOWNLOAD_H
#define CI_BASE_DOWNLOAD_H

#include <stddef.h>

/* Fetches url into dest, which must not need more than its folder to exist.
 * sha256_hex: 64 lowercase hex digits. 0, or -1 with a message naming the URL. */
int download_verified(const char *url, const char *dest, const char *sha256_hex, char *err,
                      size_t errlen);

#endif
