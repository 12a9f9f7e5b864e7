/* image.c -- PNG via libpng (memory I/O, text chunks), the rest via stb_image.
 *
 * libpng reports errors by longjmp; every entry point sets its jump buffer before
 * touching the file and frees what it allocated on the way out, so a corrupt upload
 * is an error message, never a crash.
 */
#include "base/image.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#include "stb_image.h"
#pragma GCC diagnostic pop

void img8_free(img8 *im) {
    if (!im) return;
    free(im->px);
    im->px = NULL;
}

/* ---- decoding ---- */

typedef struct mem_reader { const unsigned char *p; size_t left; } mem_reader;

static void mem_read(png_structp png, png_bytep dst, png_size_t n) {
    mem_reader *r = png_get_io_ptr(png);
    if (n > r->left) png_error(png, "truncated PNG");
    memcpy(dst, r->p, n);
    r->p += n; r->left -= n;
}

static void png_err(png_structp png, png_const_charp msg) {
    char *err = png_get_error_ptr(png);
    if (err) snprintf(err, 256, "PNG: %s", msg);
    png_longjmp(png, 1);
}

static void png_warn(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static int decode_png(const unsigned char *data, size_t len, img8 *out, char *err, size_t errlen) {
    char msg[256] = "PNG: corrupt file";
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, msg, png_err, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    unsigned char *volatile px = NULL;
    png_bytep *volatile rows = NULL;
    if (!info) { png_destroy_read_struct(&png, NULL, NULL); snprintf(err, errlen, "out of memory"); return -1; }
    if (setjmp(png_jmpbuf(png))) {
        free(px); free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        snprintf(err, errlen, "%s", msg);
        return -1;
    }
    mem_reader r = { data, len };
    png_set_read_fn(png, &r, mem_read);
    png_set_user_limits(png, 65536, 65536);
    png_read_info(png, info);
    png_set_strip_16(png);
    png_set_packing(png);
    png_set_palette_to_rgb(png);
    png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int ch = png_get_channels(png, info);
    size_t stride = png_get_rowbytes(png, info);
    if (stride != (size_t)w * (size_t)ch) png_error(png, "unsupported pixel layout");
    px = malloc(stride * h);
    rows = malloc(h * sizeof *rows);
    if (!px || !rows) png_error(png, "image too large for memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = px + y * stride;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    *out = (img8){ (int)w, (int)h, ch, px };
    return 0;
}

int image_decode(const unsigned char *data, size_t len, img8 *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (len >= 8 && !png_sig_cmp(data, 0, 8)) return decode_png(data, len, out, err, errlen);
    if (len > (size_t)0x7fffffff) { snprintf(err, errlen, "image file too large"); return -1; }
    int w, h, ch;
    if (!stbi_info_from_memory(data, (int)len, &w, &h, &ch)) {
        snprintf(err, errlen, "cannot identify image file (%s)", stbi_failure_reason());
        return -1;
    }
    if ((long long)w * h > (1LL << 28)) { snprintf(err, errlen, "image too large (%dx%d)", w, h); return -1; }
    unsigned char *px = stbi_load_from_memory(data, (int)len, &w, &h, &ch, 0);
    if (!px) { snprintf(err, errlen, "cannot decode image (%s)", stbi_failure_reason()); return -1; }
    /* stb allocates with malloc (no custom STBI_MALLOC), so free() releases it */
    *out = (img8){ w, h, ch, px };
    return 0;
}

static unsigned char *read_all(const char *path, size_t *lenp, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "cannot open %s", path); return NULL; }
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            unsigned char *p = realloc(buf, cap);
            if (!p) { free(buf); fclose(f); snprintf(err, errlen, "out of memory"); return NULL; }
            buf = p;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    fclose(f);
    *lenp = len;
    return buf;
}

int image_load_file(const char *path, img8 *out, char *err, size_t errlen) {
    size_t len;
    unsigned char *buf = read_all(path, &len, err, errlen);
    if (!buf) return -1;
    int rc = image_decode(buf, len, out, err, errlen);
    free(buf);
    return rc;
}

/* ---- EXIF orientation (JPEG APP1) ---- */

static unsigned rd16(const unsigned char *p, int le) { return le ? p[0] | p[1] << 8 : p[0] << 8 | p[1]; }
static unsigned rd32(const unsigned char *p, int le) {
    return le ? (unsigned)p[0] | (unsigned)p[1] << 8 | (unsigned)p[2] << 16 | (unsigned)p[3] << 24
              : (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | (unsigned)p[3];
}

/* Orientation tag (0x0112) of IFD0, 1 when absent or unreadable. */
static int jpeg_orientation(const unsigned char *d, size_t len) {
    if (len < 4 || d[0] != 0xFF || d[1] != 0xD8) return 1;
    for (size_t p = 2; p + 4 <= len && d[p] == 0xFF;) {
        unsigned marker = d[p + 1], seg = rd16(d + p + 2, 0);
        if (marker == 0xDA || seg < 2 || p + 2 + seg > len) break;
        const unsigned char *s = d + p + 4;
        size_t n = seg - 2;
        if (marker == 0xE1 && n >= 14 && !memcmp(s, "Exif\0\0", 6)) {
            const unsigned char *t = s + 6;
            size_t tn = n - 6;
            int le = t[0] == 'I';
            unsigned ifd = rd32(t + 4, le);
            if (ifd + 2 > tn) return 1;
            unsigned count = rd16(t + ifd, le);
            for (unsigned i = 0; i < count && ifd + 2 + 12 * (i + 1) <= tn; i++) {
                const unsigned char *e = t + ifd + 2 + 12 * i;
                if (rd16(e, le) == 0x0112) {
                    unsigned v = rd16(e + 8, le);
                    return v >= 1 && v <= 8 ? (int)v : 1;
                }
            }
            return 1;
        }
        p += 2 + seg;
    }
    return 1;
}

/* PIL's exif_transpose: 2 flip left-right, 3 rotate 180, 4 flip top-bottom,
 * 5 transpose, 6 rotate 270 (clockwise), 7 transverse, 8 rotate 90. */
static int orient(img8 *im, int o) {
    if (o <= 1) return 0;
    int w = im->w, h = im->h, c = im->channels, swap = o >= 5;
    int ow = swap ? h : w, oh = swap ? w : h;
    unsigned char *px = malloc((size_t)w * h * c);
    if (!px) return -1;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = w - 1 - x; sy = y; break;
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;
            case 4: sx = x; sy = h - 1 - y; break;
            case 5: sx = y; sy = x; break;
            case 6: sx = y; sy = h - 1 - x; break;
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;
            default: sx = w - 1 - y; sy = x; break;
            }
            memcpy(px + ((size_t)y * ow + x) * c, im->px + ((size_t)sy * w + sx) * c, (size_t)c);
        }
    free(im->px);
    *im = (img8){ ow, oh, c, px };
    return 0;
}

int image_load_frames(const char *path, img8 **frames, char *err, size_t errlen) {
    size_t len;
    *frames = NULL;
    unsigned char *buf = read_all(path, &len, err, errlen);
    if (!buf) return -1;
    int n = 1;
    if (len >= 6 && !memcmp(buf, "GIF8", 4) && len < (size_t)0x7fffffff) {
        int *delays = NULL, w, h, z, comp;
        unsigned char *all = stbi_load_gif_from_memory(buf, (int)len, &delays, &w, &h, &z, &comp, 4);
        free(delays);
        if (!all || (long long)w * h * z > (1LL << 30)) {
            free(all); free(buf);
            snprintf(err, errlen, "cannot decode GIF (%s)", stbi_failure_reason());
            return -1;
        }
        *frames = calloc((size_t)z, sizeof **frames);
        for (int i = 0; *frames && i < z; i++) {
            (*frames)[i] = (img8){ w, h, 4, malloc((size_t)w * h * 4) };
            if ((*frames)[i].px) memcpy((*frames)[i].px, all + (size_t)i * w * h * 4, (size_t)w * h * 4);
        }
        free(all);
        n = z;
        for (int i = 0; *frames && i < n; i++)
            if (!(*frames)[i].px) { for (int k = 0; k < n; k++) img8_free(&(*frames)[k]); free(*frames); *frames = NULL; }
        if (!*frames) { free(buf); snprintf(err, errlen, "out of memory"); return -1; }
    } else {
        *frames = calloc(1, sizeof **frames);
        int rc = *frames ? image_decode(buf, len, *frames, err, errlen) : -1;
        if (rc == 0 && orient(*frames, jpeg_orientation(buf, len)) < 0) { img8_free(*frames); rc = -1; }
        if (rc < 0) { free(*frames); *frames = NULL; free(buf); return -1; }
    }
    free(buf);
    return n;
}

/* ---- encoding ---- */

typedef struct mem_writer { unsigned char *p; size_t len, cap; int oom; } mem_writer;

static void mem_write(png_structp png, png_bytep src, png_size_t n) {
    mem_writer *w = png_get_io_ptr(png);
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 65536;
        while (cap < w->len + n) cap *= 2;
        unsigned char *p = realloc(w->p, cap);
        if (!p) { w->oom = 1; png_error(png, "out of memory"); }
        w->p = p; w->cap = cap;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void mem_flush(png_structp png) { (void)png; }

int png_encode(const img8 *im, const png_text_kv *texts, int n_texts, int compression,
               unsigned char **out, size_t *outlen, char *err, size_t errlen) {
    static const int color[] = { 0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                 PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGBA };
    if (im->channels < 1 || im->channels > 4 || im->w <= 0 || im->h <= 0) {
        snprintf(err, errlen, "cannot encode a %dx%dx%d image", im->w, im->h, im->channels);
        return -1;
    }
    char msg[256] = "PNG: write failed";
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, msg, png_err, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_textp volatile tx = NULL;
    mem_writer w = {0};
    if (!info) { png_destroy_write_struct(&png, NULL); snprintf(err, errlen, "out of memory"); return -1; }
    if (setjmp(png_jmpbuf(png))) {
        free(w.p); free(tx);
        png_destroy_write_struct(&png, &info);
        snprintf(err, errlen, "%s", msg);
        return -1;
    }
    png_set_write_fn(png, &w, mem_write, mem_flush);
    png_set_compression_level(png, compression);
    png_set_IHDR(png, info, (png_uint_32)im->w, (png_uint_32)im->h, 8, color[im->channels],
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (n_texts > 0) {
        tx = calloc((size_t)n_texts, sizeof *tx);
        if (!tx) png_error(png, "out of memory");
        for (int i = 0; i < n_texts; i++) {
            tx[i].compression = PNG_TEXT_COMPRESSION_NONE;
            tx[i].key = texts[i].key;
            tx[i].text = texts[i].text;
            tx[i].text_length = strlen(texts[i].text);
        }
        png_set_text(png, info, tx, n_texts);
    }
    png_write_info(png, info);
    size_t stride = (size_t)im->w * (size_t)im->channels;
    for (int y = 0; y < im->h; y++) png_write_row(png, im->px + (size_t)y * stride);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(tx);
    *out = w.p;
    *outlen = w.len;
    return 0;
}

int png_write_file(const char *path, const img8 *im, const png_text_kv *texts, int n_texts,
                   int compression, char *err, size_t errlen) {
    unsigned char *buf;
    size_t len;
    if (png_encode(im, texts, n_texts, compression, &buf, &len, err, errlen) < 0) return -1;
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(buf, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = 0;
    free(buf);
    if (!ok) { snprintf(err, errlen, "cannot write %s", path); return -1; }
    return 0;
}

/* ---- text chunks ---- */

int png_read_texts(const unsigned char *data, size_t len, png_text_kv **texts) {
    *texts = NULL;
    if (len < 8 || png_sig_cmp(data, 0, 8)) return 0;
    char msg[256];
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, msg, png_err, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_infop end = info ? png_create_info_struct(png) : NULL;
    png_text_kv *volatile out = NULL;
    volatile int n = 0;
    if (!end) { png_destroy_read_struct(&png, info ? &info : NULL, NULL); return -1; }
    if (setjmp(png_jmpbuf(png))) {
        png_texts_free(out, n);
        png_destroy_read_struct(&png, &info, &end);
        return -1;
    }
    mem_reader r = { data, len };
    png_set_read_fn(png, &r, mem_read);
    png_set_user_limits(png, 65536, 65536);
    png_read_info(png, info);
    /* text after the image data needs the rows read; skip them cheaply row by row */
    png_set_strip_16(png);
    png_set_packing(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t stride = png_get_rowbytes(png, info);
    png_bytep row = malloc(stride ? stride : 1);
    if (!row) png_error(png, "out of memory");
    int passes = png_set_interlace_handling(png);
    png_uint_32 h = png_get_image_height(png, info);
    for (int p = 0; p < passes; p++)
        for (png_uint_32 y = 0; y < h; y++) png_read_row(png, row, NULL);
    free(row);
    png_read_end(png, end);
    png_infop sources[2] = { info, end };
    for (int s = 0; s < 2; s++) {
        png_textp t;
        int k = png_get_text(png, sources[s], &t, NULL);
        if (k <= 0) continue;
        png_text_kv *grown = realloc(out, (size_t)(n + k) * sizeof *grown);
        if (!grown) png_error(png, "out of memory");
        out = grown;
        for (int i = 0; i < k; i++) {
            out[n].key = strdup(t[i].key);
            out[n].text = strdup(t[i].text ? t[i].text : "");
            n++;
        }
    }
    png_destroy_read_struct(&png, &info, &end);
    *texts = out;
    return n;
}

void png_texts_free(png_text_kv *texts, int n) {
    for (int i = 0; texts && i < n; i++) { free(texts[i].key); free(texts[i].text); }
    free(texts);
}
