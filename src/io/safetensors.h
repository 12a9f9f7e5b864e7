/* safetensors.h -- writing .safetensors files (reading goes through ckpt_open).
 *
 * The header is written the way synthetic-ckpt v1 pins it down, which is also what
 * the Python library writes apart from key order: compact JSON, "__metadata__" first,
 * then one {"dtype","shape","data_offsets"} entry per tensor in the caller's order,
 * padded with spaces so that 8 + header length is a multiple of 8. Tensor data
 * follows back to back in the same order.
 */
#ifndef CI_IO_SAFETENSORS_H
#define CI_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tensor/tensor.h"

typedef struct st_item {
    const char *name;
    dtype dt;
    int ndim;
    int64_t ne[8];
} st_item;

/* The 8 length bytes followed by the padded JSON header, malloc'd; *len is the total.
 * meta is key, value pairs (nmeta pairs), written in that order. NULL when out of
 * memory or a shape overflows. */
uint8_t *st_header(const st_item *items, size_t n, const char *const *meta, size_t nmeta,
                   size_t *len);

/* Writes a whole file: the tensors' data must match their dtype and shape. Returns 0,
 * or -1 with a message in err (errlen bytes). */
int st_save(const char *path, const char *const *names, const tensor *const *ts, size_t n,
            const char *const *meta, size_t nmeta, char *err, size_t errlen);

#endif
