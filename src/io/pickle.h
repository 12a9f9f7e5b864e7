/* pickle.h -- a safe pickle reader that rebuilds PyTorch state dicts, nothing else.
 *
 * A pickle is a program; this VM runs it with a closed set of globals:
 * collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter and
 * the typed torch.*Storage classes. Any other global (os.system, builtins.eval,
 * numpy, pytorch_lightning, ...) stops the load with an error naming it, before
 * anything could be called. Storages are persistent ids ('storage', type, key,
 * location, numel) resolved by the caller; tensors come out as (storage, offset,
 * shape, stride) descriptions.
 *
 * The state dict is the unpickled dict itself, or, as ComfyUI unwraps it, its
 * "state_dict" entry, else "params_ema", else "params", else the value of a dict
 * with a single key when that value is a dict. Dicts inside it are flattened with
 * dotted names ("string_to_param.*" in textual-inversion embeddings), two levels at
 * most. Entries that are not tensors (epoch, global_step, ...) are skipped.
 */
#ifndef CI_IO_PICKLE_H
#define CI_IO_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/tensor.h"

#define PK_MAX_DIMS 8

typedef struct pk_tensor {
    dtype dt;
    const char *storage_key;   /* the zip's data/<key> */
    int64_t storage_numel;     /* elements the persistent id declares */
    int64_t offset;            /* in elements */
    int ndim;
    int64_t ne[PK_MAX_DIMS];
    int64_t stride[PK_MAX_DIMS];
} pk_tensor;

/* Called once per tensor of the state dict, in dict order; non-zero stops the load
 * (the callback has written err). */
typedef int (*pk_emit)(void *ctx, const char *name, const pk_tensor *t, char *err);

/* Runs the program; 0, or -1 with a message in err (IO_ERR_LEN bytes). */
int pk_load_state_dict(const uint8_t *prog, size_t len, pk_emit emit, void *ctx, char *err);

#endif
