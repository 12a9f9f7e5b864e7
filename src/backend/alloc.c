/* alloc.c -- see alloc.h. */
#include "backend/alloc.h"
#include "backend/backend.h"

#include <stdatomic.h>

static _Atomic uint64_t alloc_reserved, alloc_in_use;

void alloc_reserve(size_t n) { atomic_fetch_add(&alloc_reserved, n); }
void alloc_release(size_t n) { atomic_fetch_sub(&alloc_reserved, n); }
void alloc_use(size_t n) { atomic_fetch_add(&alloc_in_use, n); }
void alloc_unuse(size_t n) { atomic_fetch_sub(&alloc_in_use, n); }

uint64_t backend_bytes_reserved(void) { return atomic_load(&alloc_reserved); }
uint64_t backend_bytes_in_use(void) { return atomic_load(&alloc_in_use); }
