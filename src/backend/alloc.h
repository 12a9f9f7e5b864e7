/* alloc.h -- counters behind backend_bytes_reserved/in_use (the torch_vram_* figures).
 *
 * Everything big we allocate for compute reports here: arena blocks (reserved; their
 * carved bytes are in use) and prepared weights (both). Atomics, any thread.
 */
#ifndef CI_ALLOC_H
#define CI_ALLOC_H

#include <stddef.h>

void alloc_reserve(size_t n);
void alloc_release(size_t n);
void alloc_use(size_t n);
void alloc_unuse(size_t n);

#endif
