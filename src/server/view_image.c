/* view_image.c -- see view_image.h. */
#include "server/view_image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/image.h"

/* Any decoded image as 8-bit RGBA (alpha 255 when the file has none). */
static unsigned char *to_rgba(const img8 *im) {
    size_t n = (size_t)im->w * (size_t)im->h;
    unsigned char *out = malloc(n * 4);
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p = im->px + i * (size_t)im->channels;
        unsigned char *q = out + i * 4;
        int gray = im->channels < 3;
        q[0] = p[0];
        q[1] = gray ? p[0] : p[1];
        q[2] = gray ? p[0] : p[2];
        q[3] = im->channels == 2 ? p[1] : im->channels == 4 ? p[3] : 255;
    }
    return out;
}

unsigned char *view_transform(const char *path, view_mode mode, size_t *len, const char **content_type) {
    img8 im;
    char err[256];
    if (image_load_file(path, &im, err, sizeof err)) return NULL;
    unsigned char *rgba = to_rgba(&im);
    img8 out = {.w = im.w, .h = im.h};
    img8_free(&im);
    if (!rgba) return NULL;
    size_t n = (size_t)out.w * (size_t)out.h;
    unsigned char *result = NULL;
    if (mode == VIEW_ALPHA) {
        for (size_t i = 0; i < n; i++) rgba[i * 4] = rgba[i * 4 + 1] = rgba[i * 4 + 2] = 0;
        out.channels = 4;
        out.px = rgba;
        if (png_encode(&out, NULL, 0, 1, &result, len, err, sizeof err)) result = NULL;
        *content_type = "image/png";
    } else {
        for (size_t i = 0; i < n; i++) memmove(rgba + i * 3, rgba + i * 4, 3);     /* drop alpha */
        out.channels = 3;
        out.px = rgba;
        if (png_encode(&out, NULL, 0, 1, &result, len, err, sizeof err)) result = NULL;
        *content_type = "image/png";
    }
    free(rgba);
    return result;
}

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = buf ? (size_t)n : 0;
    return buf;
}

int view_composite_mask(const char *original, const unsigned char *mask, size_t mask_len, const char *dest,
                        char *err, size_t errlen) {
    size_t olen;
    unsigned char *obytes = read_all(original, &olen);
    if (!obytes) {
        snprintf(err, errlen, "cannot read the original image");
        return -1;
    }
    img8 oim = {0}, mim = {0};
    png_text_kv *texts = NULL;
    int n_texts = 0, rc = -1;
    unsigned char *orgba = NULL, *mrgba = NULL;
    if (image_decode(obytes, olen, &oim, err, errlen) || image_decode(mask, mask_len, &mim, err, errlen)) goto out;
    if (oim.w != mim.w || oim.h != mim.h) {
        snprintf(err, errlen, "mask is %dx%d, the original image %dx%d", mim.w, mim.h, oim.w, oim.h);
        goto out;
    }
    n_texts = png_read_texts(obytes, olen, &texts);
    if (n_texts < 0) n_texts = 0;
    orgba = to_rgba(&oim);
    mrgba = to_rgba(&mim);
    if (!orgba || !mrgba) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0, n = (size_t)oim.w * (size_t)oim.h; i < n; i++) orgba[i * 4 + 3] = mrgba[i * 4 + 3];
    img8 result = {.w = oim.w, .h = oim.h, .channels = 4, .px = orgba};
    rc = png_write_file(dest, &result, texts, n_texts, 4, err, errlen);
out:
    if (texts) png_texts_free(texts, n_texts);
    free(orgba);
    free(mrgba);
    img8_free(&oim);
    img8_free(&mim);
    free(obytes);
    return rc;
}
