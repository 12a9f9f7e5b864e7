/* pcache.h -- oneDNN primitives cached by what shaped them.
 *
 * A key is a short list of integers an op writes itself: op id, every operand's dtype
 * and dims (and strides where they are not plain), attributes (activation, fused sum,
 * alpha bits, eps bits, precision), so that equal keys mean an identical primitive.
 * Creating a primitive descriptor costs far more than an op on small shapes; a lookup
 * is a hash of a few hundred bytes.
 */
#ifndef CI_PCACHE_H
#define CI_PCACHE_H

#include <oneapi/dnnl/dnnl.h>
#include <stdint.h>

#include "tensor/tensor.h"

#define PKEY_MAX 96

typedef struct pkey {
    int n;
    int64_t v[PKEY_MAX];
} pkey;

typedef struct pentry {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
} pentry;

void pkey_init(pkey *k, int op);
void pkey_push(pkey *k, int64_t v);
void pkey_pushf(pkey *k, float v);
void pkey_tensor(pkey *k, const tensor *t);    /* dtype, ndim, dims; NULL pushes -1 */

/* The cached entry for k, or make(ctx) turned into a primitive and cached. make returns
 * a primitive descriptor (ownership passes to the cache) or NULL when oneDNN has no
 * implementation; then NULL is returned and nothing is cached. */
const pentry *pcache_get(const pkey *k, dnnl_primitive_desc_t (*make)(void *ctx), void *ctx);
void pcache_clear(void);
/* Entries, hits and misses since start, for the benchmark and the logs. */
void pcache_stats(uint64_t *entries, uint64_t *hits, uint64_t *misses);

#endif
