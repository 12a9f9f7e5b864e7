/* image.h -- image files: PNG through libpng (with tEXt chunks), others through stb.
 *
 * Decoding gives 8-bit interleaved pixels with the file's colour model reduced to
 * gray, gray+alpha, RGB or RGBA (palettes and tRNS expanded, 16-bit reduced to the
 * high byte as PIL does). Encoding writes 8-bit PNGs with text chunks placed before
 * the image data, which is where ComfyUI's metadata readers look.
 */
#ifndef CI_IMAGE_H
#define CI_IMAGE_H

#include <stddef.h>

typedef struct img8 {
    int w, h, channels;        /* channels: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA */
    unsigned char *px;         /* (h, w, channels) */
} img8;

typedef struct png_text_kv {
    char *key;                 /* 1..79 Latin-1 characters */
    char *text;
} png_text_kv;

/* Decodes a PNG, JPEG, BMP, GIF (first frame), TGA, PSD, HDR or PNM in memory.
 * Returns 0, or -1 with a message in err. */
int image_decode(const unsigned char *data, size_t len, img8 *out, char *err, size_t errlen);
int image_load_file(const char *path, img8 *out, char *err, size_t errlen);
/* Every frame of an animated GIF (composited, RGBA), or the one image of any other
 * file; JPEGs are turned upright by their EXIF orientation as PIL's exif_transpose
 * does. *frames is malloc'd (free each with img8_free, then the array). Returns the
 * frame count, or -1 with a message in err. */
int image_load_frames(const char *path, img8 **frames, char *err, size_t errlen);
void img8_free(img8 *im);

/* PNG with tEXt chunks; compression 0..9. Returns 0 or -1 (err set). The buffer
 * variant returns a malloc'd encoding. */
int png_encode(const img8 *im, const png_text_kv *texts, int n_texts, int compression,
               unsigned char **out, size_t *outlen, char *err, size_t errlen);
int png_write_file(const char *path, const img8 *im, const png_text_kv *texts, int n_texts,
                   int compression, char *err, size_t errlen);
/* Every tEXt/zTXt/iTXt chunk of a PNG in memory (what /upload/mask copies over).
 * Returns the count (0 for a non-PNG), or -1 on a corrupt file; free with png_texts_free. */
int png_read_texts(const unsigned char *data, size_t len, png_text_kv **texts);
void png_texts_free(png_text_kv *texts, int n);

#endif
