/* rng.h -- PyTorch's CPU random generator, bit for bit.
 *
 * ComfyUI draws its initial noise (and, on the CPU, every ancestral noise tensor)
 * from torch's CPU generator: mt19937 seeded with the low 32 bits of the 64-bit seed,
 * 24-bit float uniforms, and `randn` filled either by a 16-wide Box-Muller with
 * Cephes-style f32 log/sincos (n >= 16) or by a scalar double Box-Muller with a cached
 * second value (n < 16). Same seed, same bits: this is what makes our pictures match.
 * See shared/spec/sd-numerics.md section 8.
 */
#ifndef CI_SAMPLING_RNG_H
#define CI_SAMPLING_RNG_H

#include <stdint.h>

#define RNG_MT_N 624

typedef struct rng {
    uint32_t st[RNG_MT_N];   /* mt19937 state words */
    int left, next;          /* words left before the next twist; read position */
    int has_normal;          /* a cached second value of the scalar double path */
    double normal;
} rng;

/* torch.manual_seed(seed): only the low 32 bits reach the engine. */
void rng_seed(rng *r, uint64_t seed);
uint32_t rng_u32(rng *r);
/* torch.randn(n) for a contiguous float32 tensor of n elements. */
void rng_randn(rng *r, float *out, int64_t n);

/* comfy.sample.prepare_noise: a fresh generator seeded with `seed`, then either one
 * randn over the whole [batch, per_item] tensor (batch_index == NULL), or one
 * randn(per_item) draw per index 0..max(batch_index), item b taking draw
 * batch_index[b]. out holds batch*per_item floats. Returns 0, or -1 on bad input
 * (negative index, out of memory). */
int rng_prepare_noise(uint64_t seed, int64_t batch, int64_t per_item,
                      const int64_t *batch_index, float *out);

#endif
