/* arena.c -- bump allocator for the activations of one model call.
 *
 * Memory is a chain of blocks; a carve takes the next 64-byte aligned slice of the
 * current block or moves to the next block (allocating one, at least twice the last,
 * when the chain runs out). Live tensors never move. Reset rewinds to the first block
 * and keeps every block, so the second call of the same shape allocates nothing.
 * Marks let an op take scratch space and give it back before returning.
 *
 * The tensor struct is carved too, right before its data, so an op's result costs one
 * carve and tensor_free can ignore it.
 */
#include "tensor/arena.h"
#include "tensor/tensor_internal.h"
#include "backend/alloc.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_MIN_BLOCK ((size_t)16 << 20)
#define ARENA_ALIGN 64

typedef struct arena_block {
    struct arena_block *next;
    size_t size, used;
    char *base;
} arena_block;

struct arena {
    arena_block *first, *cur;
    size_t capacity;      /* sum of block sizes */
    size_t live, peak;    /* bytes carved since reset (incl. alignment) */
};

static _Thread_local arena *arena_current;

arena *arena_new(void) { return calloc(1, sizeof(arena)); }

void arena_free(arena *a) {
    if (!a) return;
    if (arena_current == a) arena_current = NULL;
    alloc_unuse(a->live);
    for (arena_block *b = a->first, *n; b; b = n) {
        n = b->next;
        alloc_release(b->size);
        free(b->base);
        free(b);
    }
    free(a);
}

void arena_reset(arena *a) {
    for (arena_block *b = a->first; b; b = b->next) b->used = 0;
    a->cur = a->first;
    alloc_unuse(a->live);
    a->live = 0;
}

size_t arena_capacity(const arena *a) { return a->capacity; }
size_t arena_peak(const arena *a) { return a->peak; }

arena *arena_use(arena *a) {
    arena *prev = arena_current;
    arena_current = a;
    return prev;
}

arena *arena_current_get(void) { return arena_current; }

static arena_block *arena_grow(arena *a, size_t need) {
    size_t size = a->cur ? a->cur->size * 2 : ARENA_MIN_BLOCK;
    if (size < need) size = need;
    arena_block *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->base = aligned_alloc(ARENA_ALIGN, (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1));
    if (!b->base) {
        free(b);
        return NULL;
    }
    b->size = size;
    alloc_reserve(size);
    a->capacity += size;
    /* Append at the end of the chain so reset order stays first-to-last. */
    arena_block **tail = &a->first;
    while (*tail) tail = &(*tail)->next;
    *tail = b;
    return b;
}

void *arena_alloc(arena *a, size_t n) {
    if (n > SIZE_MAX / 2) return NULL;
    n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (!a->cur) a->cur = a->first;
    /* Walk forward through kept blocks before allocating a new one. */
    while (a->cur && a->cur->size - a->cur->used < n) {
        if (!a->cur->next) break;
        a->cur = a->cur->next;
    }
    if (!a->cur || a->cur->size - a->cur->used < n) {
        arena_block *b = arena_grow(a, n);
        if (!b) return NULL;
        a->cur = b;
    }
    void *p = a->cur->base + a->cur->used;
    a->cur->used += n;
    a->live += n;
    alloc_use(n);
    if (a->live > a->peak) a->peak = a->live;
    return p;
}

arena_mark arena_get_mark(const arena *a) {
    arena_mark m = {a->cur, a->cur ? a->cur->used : 0, a->live};
    return m;
}

void arena_release(arena *a, arena_mark m) {
    /* Blocks after the marked one were entered after the mark: empty them. */
    arena_block *b = m.block ? ((arena_block *)m.block)->next : a->first;
    for (; b; b = b->next) b->used = 0;
    if (m.block) ((arena_block *)m.block)->used = m.used;
    a->cur = m.block;
    alloc_unuse(a->live - m.live);
    a->live = m.live;
}

tensor *arena_tensor(arena *a, dtype dt, int ndim, const int64_t *ne) {
    tensor shape;
    if (!tensor_init_shape(&shape, dt, ndim, ne)) return NULL;
    size_t head = (sizeof(tensor) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (shape.nbytes > SIZE_MAX / 2) return NULL;
    char *p = arena_alloc(a, head + shape.nbytes);
    if (!p) return NULL;
    tensor *t = (tensor *)p;
    *t = shape;
    t->storage = T_ARENA;
    t->data = p + head;
    return t;
}

tensor *tensor_keep(const tensor *t) {
    if (!t) return NULL;
    tensor *k = tensor_new(t->dt, t->ndim, t->ne);
    if (k) memcpy(k->data, t->data, t->nbytes);
    return k;
}
