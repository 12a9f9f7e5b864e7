/* ckpt.h -- a checkpoint file as a read-only state dict: tensor name -> tensor.
 *
 * ckpt_open() recognises the format by content, not by extension: safetensors
 * (8-byte header length + JSON header) or PyTorch's zip checkpoint (.ckpt .pt .pth
 * .bin). The file is mmapped read-only and tensors are borrowed views into the
 * mapping (storage T_BORROWED), so opening a 2 GB file costs only the pages that are
 * later read. A tensor is copied to the heap only when the file cannot be viewed as
 * it is: data not aligned to its element size, or a strided (non-contiguous) PyTorch
 * storage view. Never write through a tensor's data: the mapping is read-only.
 *
 * Model code binds weights by key name: ckpt_get() for one name, ckpt_want() for a
 * name built printf-style with an expected shape and a clear error when it does not
 * fit, ckpt_next() to walk the keys under a prefix ("model.diffusion_model.").
 * Tensors keep the file's order. Every error is a malloc'd message naming the file and
 * what is wrong with it; the caller frees it.
 */
#ifndef CI_IO_CKPT_H
#define CI_IO_CKPT_H

#include <stddef.h>

#include "tensor/tensor.h"

typedef struct ckpt ckpt;

typedef enum { CKPT_SAFETENSORS, CKPT_TORCH_ZIP } ckpt_format;

/* NULL on failure with *err set (malloc'd; free it). err may be NULL. */
ckpt *ckpt_open(const char *path, char **err);
/* Same over a caller's buffer, which must outlive the ckpt. `name` is used in errors. */
ckpt *ckpt_open_memory(const void *buf, size_t len, const char *name, char **err);
void ckpt_close(ckpt *c);

ckpt_format ckpt_get_format(const ckpt *c);
const char *ckpt_format_name(ckpt_format f);   /* "safetensors", "pytorch-zip" */
size_t ckpt_file_size(const ckpt *c);

size_t ckpt_count(const ckpt *c);
const char *ckpt_key(const ckpt *c, size_t i);  /* i < ckpt_count(), file order */
const tensor *ckpt_at(const ckpt *c, size_t i);
const tensor *ckpt_get(const ckpt *c, const char *name);   /* NULL when absent */
/* Index of the first key at or after `from` that starts with `prefix`, or
 * ckpt_count() when none:  for (i = ckpt_next(c, p, 0); i < n; i = ckpt_next(c, p, i + 1)) */
size_t ckpt_next(const ckpt *c, const char *prefix, size_t from);
size_t ckpt_count_prefix(const ckpt *c, const char *prefix);

/* The tensor named by the printf-style format; ne (ndim entries) is its expected shape,
 * or NULL for any shape. NULL on failure with *err saying which key is missing or how
 * its shape differs. */
const tensor *ckpt_want(const ckpt *c, char **err, int ndim, const int64_t *ne,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* safetensors "__metadata__" (string -> string); empty for other formats. */
size_t ckpt_meta_count(const ckpt *c);
void ckpt_meta_at(const ckpt *c, size_t i, const char **key, const char **value);
const char *ckpt_meta(const ckpt *c, const char *key);     /* NULL when absent */

#endif
