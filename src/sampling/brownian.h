/* brownian.h -- torchsde's BrownianTree as ComfyUI's SDE samplers query it.
 *
 * A Brownian motion over [sigma_min, sigma_max], one per run, seeded with the node
 * seed through numpy's SeedSequence; every increment is a sum of dyadic-tree nodes
 * whose values come from torch-CPU randn with per-node seeds, so a query gives the
 * same bits as ComfyUI's `BrownianTreeNoiseSampler(..., cpu=True)`. Node values are
 * recomputed from the root on demand (no cache): memory stays O(tree nodes), not
 * O(nodes x latent size).
 */
#ifndef CI_SAMPLING_BROWNIAN_H
#define CI_SAMPLING_BROWNIAN_H

#include <stdint.h>

typedef struct bt_tree bt_tree;

/* Tree over [t0, t1] (t0 <= t1) for increments of n elements; NULL on OOM. */
bt_tree *bt_new(int64_t n, double t0, double t1, uint64_t seed);
void bt_free(bt_tree *t);
/* W(ta, tb) for ta <= tb (clamped to the root and rounded to 6 decimals). 0 or -3. */
int bt_increment(bt_tree *t, double ta, double tb, float *w);
/* The sampler's noise(sigma, sigma_next): -W(sigma_next, sigma) / sqrt|sigma_next - sigma|,
 * i.e. a unit-variance draw of the path between the two levels. 0 or -3 (OOM). */
int bt_noise(bt_tree *t, float sigma, float sigma_next, float *out);

/* numpy.random.SeedSequence(entropy, spawn_key=(key, depth) if spawned, pool_size=24)
 * .generate_state(n) (uint32 words). */
void bt_seed_sequence(uint64_t entropy, int spawned, uint64_t key, uint64_t depth, int n,
                      uint32_t *out);

#endif
