/* sampling_fixture.h -- test-only access to the shared SD1.5 fixtures.
 *
 * A deliberately tiny safetensors reader (F32 tensors only) so the sampling tests do
 * not depend on the io/ branch; the daemon itself uses io/'s reader.
 */
#ifndef CI_TEST_SAMPLING_FIXTURE_H
#define CI_TEST_SAMPLING_FIXTURE_H

#include <stdint.h>

/* $SHARED/<rel> (default ../shared) as a NUL-terminated heap string, or NULL. */
char *shared_slurp(const char *rel, long *len);
/* The same for $SHARED/fixtures/sd15/<file>. */
char *fixture_slurp(const char *file, long *len);
/* Heap copy of F32 tensor `name` of a fixture safetensors file, or NULL. */
float *fixture_f32(const char *file, const char *name, int64_t *numel);

#endif
