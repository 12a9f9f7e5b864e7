/* model_cache.h -- loaded models kept across prompts, within a memory budget.
 *
 * Loading a checkpoint (binding and widening 2 GB of weights) costs far more than a
 * small picture, so loaders keep what they loaded here under a key (the file's path
 * and what was made of it). Entries are reference counted: the cache holds one
 * reference, every value handed to the graph holds another, so evicting an entry
 * that a cached node output still uses only drops the cache's claim; the memory goes
 * when the last user lets go. When the entries' bytes exceed the budget the least
 * recently used ones are dropped (never the one just inserted). mc_clear() is what
 * POST /free {"unload_models": true} does. Thread safe (one lock).
 */
#ifndef CI_MODEL_CACHE_H
#define CI_MODEL_CACHE_H

#include <stddef.h>

typedef struct mc_obj mc_obj;

/* Budget in bytes; 0: no limit. Applies at the next insert. */
void mc_set_budget(size_t bytes);
size_t mc_budget(void);

/* The entry under key with a new reference for the caller, or NULL; a hit makes it
 * the most recently used. */
mc_obj *mc_acquire(const char *key);
/* Adds payload under key (replacing nothing: the caller checked mc_acquire first) and
 * returns it with a reference for the caller. destroy(payload) runs when the last
 * reference is released. NULL on out of memory (payload destroyed). */
mc_obj *mc_insert(const char *key, void *payload, size_t bytes, void (*destroy)(void *));
/* The entry's payload holds `bytes` now (weights prepared since it was inserted take
 * their final layout and size then): the budget counts that, and evicts as mc_insert. */
void mc_resize(mc_obj *o, size_t bytes);
mc_obj *mc_ref(mc_obj *o);
void mc_release(mc_obj *o);
void *mc_payload(const mc_obj *o);

/* Drops the cache's references to every entry. */
void mc_clear(void);
/* Entries and their bytes currently held by the cache (tests, logs). */
size_t mc_count(void);
size_t mc_bytes(void);

#endif
