/* ckpt_internal.h -- what the format readers (safetensors.c, torchzip.c) use to fill a
 * ckpt. Not for code outside src/io/.
 */
#ifndef CI_IO_CKPT_INTERNAL_H
#define CI_IO_CKPT_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "io/ckpt.h"

#define IO_ERR_LEN 512

/* printf into an IO_ERR_LEN buffer; returns -1 so readers can `return io_fail(...)`. */
int io_fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Adds one tensor whose bytes start at `data` (inside the file or a buffer the ckpt
 * owns). Copies it when `data` is not aligned to the element size. Rejects duplicate
 * names, more than T_MAX_DIMS dims and shapes whose byte count overflows. */
int ckpt_add(ckpt *c, const char *name, dtype dt, int ndim, const int64_t *ne,
             const void *data, char *err);
/* Takes ownership of a heap block (freed by ckpt_close). */
int ckpt_own(ckpt *c, void *block, char *err);
int ckpt_add_meta(ckpt *c, const char *key, const char *value, char *err);

/* Byte count of a shape, or -1 on overflow (products beyond 2^62). */
int64_t io_shape_bytes(dtype dt, int ndim, const int64_t *ne);

/* The readers. buf/len is the whole file. */
int st_read(ckpt *c, const uint8_t *buf, size_t len, char *err);
int torchzip_read(ckpt *c, const uint8_t *buf, size_t len, char *err);

#endif
