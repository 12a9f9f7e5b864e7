/* view_image.h -- the re-encodings /view offers on top of sending a file as stored:
 * channel=rgb (PNG without alpha), channel=a (the alpha as a black RGBA PNG) and
 * preview=<format>[;quality] (ComfyUI sends WEBP or JPEG; neither encoder is in our
 * stack, so the preview is a fast-compressed PNG without alpha -- browsers display
 * any of them). And the compositing of /upload/mask: the original's pixels and text
 * chunks with the upload's alpha.
 */
#ifndef CI_SERVER_VIEW_IMAGE_H
#define CI_SERVER_VIEW_IMAGE_H

#include <stddef.h>

typedef enum { VIEW_RGB, VIEW_ALPHA } view_mode;

/* Re-encodes the image file at path. Returns a malloc'd encoding (its type in
 * *content_type), or NULL when the file is not a decodable image. */
unsigned char *view_transform(const char *path, view_mode mode, size_t *len, const char **content_type);

/* Writes original's RGB and text chunks with mask's alpha as a PNG (zlib level 4) to
 * dest. Returns 0, or -1 with a message in err. */
int view_composite_mask(const char *original, const unsigned char *mask, size_t mask_len, const char *dest,
                        char *err, size_t errlen);

#endif
