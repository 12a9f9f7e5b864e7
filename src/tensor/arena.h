/* arena.h -- activation memory for one model call.
 *
 * ops.h allocates every output from the current arena. A model call resets it at the
 * start; the arena grows (by chained blocks, never moving live tensors) the first time
 * a shape is seen and is then reused, so steady-state calls allocate nothing.
 */
#ifndef CI_ARENA_H
#define CI_ARENA_H

#include "tensor/tensor.h"

typedef struct arena arena;

arena *arena_new(void);
void arena_free(arena *a);
void arena_reset(arena *a);                 /* everything carved from it is dead */
size_t arena_capacity(const arena *a);      /* bytes reserved, for /system_stats */
size_t arena_peak(const arena *a);          /* most bytes live at once */
/* Make `a` the arena ops allocate from on this thread; returns the previous one. */
arena *arena_use(arena *a);
tensor *arena_tensor(arena *a, dtype dt, int ndim, const int64_t *ne);
/* Heap copy of an arena tensor that must outlive the call. */
tensor *tensor_keep(const tensor *t);

/* The current arena of this thread, or NULL (ops then return heap tensors that the
 * caller frees with tensor_free). */
arena *arena_current_get(void);
/* Raw 64-byte aligned bytes; NULL when out of memory. */
void *arena_alloc(arena *a, size_t n);
/* Scratch that dies before the op returns: take a mark, carve, release to the mark.
 * Everything carved after the mark is dead after the release. */
typedef struct arena_mark { void *block; size_t used, live; } arena_mark;
arena_mark arena_get_mark(const arena *a);
void arena_release(arena *a, arena_mark m);

#endif
