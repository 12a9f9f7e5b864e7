/* model_fixture.h -- what the model conformance tests share: paths of the synthetic
 * checkpoint and of the ComfyUI fixtures, fixture tensors by name, error figures. */
#ifndef CI_TEST_MODEL_FIXTURE_H
#define CI_TEST_MODEL_FIXTURE_H

#include <stddef.h>

#include "io/ckpt.h"
#include "tensor/tensor.h"

/* $SHARED/fixtures/sd15/NAME (SHARED defaults to ../shared). */
ckpt *model_fixture_open(const char *name);
/* $BUILD/sd15-synth.safetensors (BUILD defaults to build), or NULL when it was not built. */
ckpt *model_fixture_synth_open(void);
/* The named fixture tensor; fails the test when absent or not f32. */
const tensor *model_fixture_get(const ckpt *c, const char *name);
/* max |a - b| / max |b|: the error relative to the reference tensor's scale. */
double model_fixture_rel_err(const float *a, const float *b, size_t n);
/* Brings up the cpu engine at the given precision (0 ok); fails the test otherwise. */
int model_fixture_backend(int bf16);               /* at O1 */
int model_fixture_backend_at(int bf16, int opt);   /* opt: an opt_level */

#endif
