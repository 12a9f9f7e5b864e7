/* graph/cache.h -- the output cache (cache.c). Worker thread only. */
#ifndef CI_GRAPH_CACHE_H
#define CI_GRAPH_CACHE_H

#include "graph/graph.h"

typedef struct cache_hit {
    vlist *outs;      /* one list per output slot */
    int n_outs;
    cJSON *ui;        /* the node's UI dict, or NULL */
} cache_hit;

const cache_hit *cache_get(const char *key);       /* borrowed until the next put/trim */
void cache_put(const char *key, const vlist *outs, int n_outs, const cJSON *ui);

#endif
