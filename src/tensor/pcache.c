/* pcache.c -- open hash table of primitives (see pcache.h).
 *
 * Chained buckets that double when the load passes 1. A mutex guards the table: the
 * worker thread is the main user but tools and tests may run ops from several threads.
 * Primitive creation happens under the lock so two threads never build the same one.
 */
#include "tensor/pcache.h"
#include "backend/engine.h"
#include "base/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct pnode {
    struct pnode *next;
    uint64_t hash;
    pkey key;
    pentry e;
} pnode;

static pnode **pc_buckets;
static size_t pc_nbuckets, pc_count;
static uint64_t pc_hits, pc_misses;
static pthread_mutex_t pc_lock = PTHREAD_MUTEX_INITIALIZER;

void pkey_init(pkey *k, int op) {
    k->n = 0;
    pkey_push(k, op);
}

void pkey_push(pkey *k, int64_t v) {
    /* Overflow would silently alias keys: make it loud instead. */
    if (k->n >= PKEY_MAX) {
        log_error("pcache: key longer than %d values", PKEY_MAX);
        abort();
    }
    k->v[k->n++] = v;
}

void pkey_pushf(pkey *k, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    pkey_push(k, u);
}

void pkey_tensor(pkey *k, const tensor *t) {
    if (!t) {
        pkey_push(k, -1);
        return;
    }
    pkey_push(k, t->dt);
    pkey_push(k, t->ndim);
    for (int i = 0; i < t->ndim; i++) pkey_push(k, t->ne[i]);
}

static uint64_t pkey_hash(const pkey *k) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < k->n; i++) {
        h ^= (uint64_t)k->v[i];
        h *= 1099511628211ull;
        h ^= h >> 29;
    }
    return h;
}

static int pkey_eq(const pkey *a, const pkey *b) {
    return a->n == b->n && memcmp(a->v, b->v, (size_t)a->n * sizeof a->v[0]) == 0;
}

static void pcache_grow(void) {
    size_t nb = pc_nbuckets ? pc_nbuckets * 2 : 256;
    pnode **b = calloc(nb, sizeof *b);
    if (!b) return;                     /* keep the old table; it only gets slower */
    for (size_t i = 0; i < pc_nbuckets; i++) {
        for (pnode *n = pc_buckets[i], *next; n; n = next) {
            next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
        }
    }
    free(pc_buckets);
    pc_buckets = b;
    pc_nbuckets = nb;
}

const pentry *pcache_get(const pkey *k, dnnl_primitive_desc_t (*make)(void *ctx), void *ctx) {
    uint64_t h = pkey_hash(k);
    const pentry *found = NULL;
    /* A first op may bring the engine up lazily, and backend_init clears this cache:
     * that must happen before the lock is taken, not inside make(). */
    backend_engine();
    pthread_mutex_lock(&pc_lock);
    if (pc_count >= pc_nbuckets) pcache_grow();
    for (pnode *n = pc_buckets[h & (pc_nbuckets - 1)]; n && !found; n = n->next)
        if (n->hash == h && pkey_eq(&n->key, k)) found = &n->e;
    if (found) {
        pc_hits++;
    } else {
        pc_misses++;
        dnnl_primitive_desc_t pd = make(ctx);
        dnnl_primitive_t prim = NULL;
        pnode *n = NULL;
        if (pd && dnnl_primitive_create(&prim, pd) == dnnl_success && (n = malloc(sizeof *n))) {
            n->hash = h;
            n->key = *k;
            n->e.pd = pd;
            n->e.prim = prim;
            n->next = pc_buckets[h & (pc_nbuckets - 1)];
            pc_buckets[h & (pc_nbuckets - 1)] = n;
            pc_count++;
            found = &n->e;
        } else {
            if (prim) dnnl_primitive_destroy(prim);
            if (pd) dnnl_primitive_desc_destroy(pd);
        }
    }
    pthread_mutex_unlock(&pc_lock);
    return found;
}

void pcache_clear(void) {
    pthread_mutex_lock(&pc_lock);
    for (size_t i = 0; i < pc_nbuckets; i++) {
        for (pnode *n = pc_buckets[i], *next; n; n = next) {
            next = n->next;
            dnnl_primitive_destroy(n->e.prim);
            dnnl_primitive_desc_destroy(n->e.pd);
            free(n);
        }
    }
    free(pc_buckets);
    pc_buckets = NULL;
    pc_nbuckets = pc_count = 0;
    pthread_mutex_unlock(&pc_lock);
}

void pcache_stats(uint64_t *entries, uint64_t *hits, uint64_t *misses) {
    pthread_mutex_lock(&pc_lock);
    *entries = pc_count;
    *hits = pc_hits;
    *misses = pc_misses;
    pthread_mutex_unlock(&pc_lock);
}
