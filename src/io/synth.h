/* synth.h -- synthetic checkpoints, format "synthetic-ckpt v1"
 * (shared/spec/synthetic-checkpoint.md).
 *
 * A key list (name, dtype, shape per line) and a 64-bit seed define every byte of a
 * .safetensors file: values are a pure function of (seed, key, element index), so
 * they can be produced in any order and in parallel, and the file is bit-identical
 * to the one the reference fixtures were computed on.
 */
#ifndef CI_IO_SYNTH_H
#define CI_IO_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "io/safetensors.h"

typedef struct synth_keys {
    st_item *items;     /* names are owned */
    size_t n, cap;
} synth_keys;

/* Parses a key list file ("name\tdtype\td0,d1,..." per line). 0, or -1 with err set. */
int synth_keys_load(const char *path, synth_keys *out, char *err, size_t errlen);
/* Appends one tensor (the name is copied). 0, or -1 out of memory or over 8 dims. */
int synth_keys_add(synth_keys *k, const char *name, dtype dt, int ndim, const int64_t *ne);
/* Puts the list in the order the safetensors library writes a state dict: by dtype,
 * widest-ranked first in its Dtype enum (I64 before F32 before F16 ...), then by name
 * byte by byte. Key lists taken from real checkpoints (keys.tsv) come in this order. */
void synth_keys_sort(synth_keys *k);
void synth_keys_free(synth_keys *k);

/* Stored bytes of elements [begin, begin + count) of tensor `it` into out
 * (count * dtype_size bytes). Runs in parallel over the range. 0, or -1 for a dtype the
 * spec gives no values for (BOOL). */
int synth_fill(const st_item *it, uint64_t seed, uint64_t begin, uint64_t count, void *out);

/* Writes the whole file; when sha256 is not NULL it receives the file's digest. With path
 * NULL nothing is written: the bytes are only hashed (sha256 is then required). */
int synth_write(const synth_keys *k, uint64_t seed, const char *path, uint8_t sha256[32],
                char *err, size_t errlen);

#endif
