/* cache.c -- node outputs kept across prompts, keyed by input signature.
 *
 * The key is a SHA-256 of the node's signature (executor.c builds it from the class,
 * the IS_CHANGED fingerprint and the constants of the node and of every ancestor), so
 * identical sub-graphs hit under any node ids. An entry holds the output slots (values
 * are shared by reference) and the node's UI dict. Only the worker thread touches the
 * cache. Between prompts it is trimmed (graph_config.cache_mode): to the most recently
 * used CACHE_MAX (or --cache-lru N) entries, to the entries the last prompt used
 * (classic), or to nothing (none); /free empties it.
 */
#include "graph/graph.h"
#include "graph/cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_MAX 256

typedef struct centry {
    char key[65];
    cache_hit h;
    uint64_t used;
} centry;

static centry *entries;
static int n_entries, cap_entries;
static uint64_t tick, prompt_start;   /* entries used since prompt_start belong to this prompt */

static void entry_free(centry *e) {
    for (int i = 0; i < e->h.n_outs; i++) vlist_clear(&e->h.outs[i]);
    free(e->h.outs);
    cJSON_Delete(e->h.ui);
}

const cache_hit *cache_get(const char *key) {
    if (G.cfg.cache_mode == GRAPH_CACHE_NONE) return NULL;
    for (int i = 0; i < n_entries; i++)
        if (!strcmp(entries[i].key, key)) {
            entries[i].used = ++tick;
            return &entries[i].h;
        }
    return NULL;
}

void cache_put(const char *key, const vlist *outs, int n_outs, const cJSON *ui) {
    if (G.cfg.cache_mode == GRAPH_CACHE_NONE) return;
    for (int i = 0; i < n_entries; i++)
        if (!strcmp(entries[i].key, key)) { entry_free(&entries[i]); entries[i] = entries[--n_entries]; break; }
    if (n_entries == cap_entries) {
        int cap = cap_entries ? cap_entries * 2 : 64;
        centry *p = realloc(entries, (size_t)cap * sizeof *p);
        if (!p) return;
        entries = p; cap_entries = cap;
    }
    centry *e = &entries[n_entries];
    memset(e, 0, sizeof *e);
    snprintf(e->key, sizeof e->key, "%s", key);
    e->h.outs = calloc((size_t)(n_outs ? n_outs : 1), sizeof *e->h.outs);
    if (!e->h.outs) return;
    e->h.n_outs = n_outs;
    for (int s = 0; s < n_outs; s++)
        for (int i = 0; i < outs[s].n; i++) vlist_push(&e->h.outs[s], value_ref(outs[s].v[i]));
    e->h.ui = ui ? cJSON_Duplicate(ui, 1) : NULL;
    e->used = ++tick;
    n_entries++;
}

void cache_clear(void) {
    for (int i = 0; i < n_entries; i++) entry_free(&entries[i]);
    free(entries);
    entries = NULL; n_entries = cap_entries = 0;
}

static int by_use_desc(const void *a, const void *b) {
    uint64_t x = ((const centry *)a)->used, y = ((const centry *)b)->used;
    return x < y ? 1 : x > y ? -1 : 0;
}

void cache_trim(void) {
    int keep = G.cfg.cache_mode == GRAPH_CACHE_LRU && G.cfg.cache_lru > 0 ? G.cfg.cache_lru : CACHE_MAX;
    if (n_entries) qsort(entries, (size_t)n_entries, sizeof *entries, by_use_desc);
    if (G.cfg.cache_mode == GRAPH_CACHE_CLASSIC)
        for (keep = 0; keep < n_entries && entries[keep].used > prompt_start; keep++) {}
    while (n_entries > keep) entry_free(&entries[--n_entries]);
    prompt_start = tick;
}
