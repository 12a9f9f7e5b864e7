/* brownian.c -- BrownianInterval (halfway tree, tol 1e-6, pool 24, no Levy area).
 *
 * Structure: intervals with 6-decimal endpoints; a split always happens at the rounded
 * midpoint, recursing toward the point that must become an endpoint, so the tree
 * depends only on the seed and the query points. A node's increment follows from its
 * parent's by the Brownian bridge: left = L/h * W + sqrt(L*R/h) * z with z drawn from
 * a torch CPU generator seeded by the parent's SeedSequence word; right = W - left.
 * Float details (which products are f32, which scalars are doubles) mirror torchsde.
 */
#include "sampling/brownian.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampling/rng.h"

#define BT_POOL 24

typedef struct bt_node {
    double start, end, mid;      /* mid valid once split */
    int parent, left, right;     /* indices; -1 for none */
    int is_left;
    uint64_t key, depth;         /* spawn key and depth: root (0,0), children (2k+b, d+1) */
    uint32_t w_seed;             /* seed of the bridge draw for this node's children */
} bt_node;

struct bt_tree {
    int64_t n;
    uint64_t entropy;
    bt_node *nodes;
    int count, cap;
    float *root_w;               /* (n) increment over the whole root interval */
    float *part;                 /* (n) scratch: one covering node's increment */
    rng *gen;                    /* reseeded for every bridge draw */
    int *path, path_len, path_cap;   /* the cached walk: node per depth ... */
    float **path_w;                  /* ... and its increment (n floats each) */
    int *want, want_cap;             /* the walk being computed */
    int *cover, ncover, cover_cap;
};

/* Python's round(x, 6): correctly rounded to 6 decimals, as glibc printf rounds. */
static double round6(double x) {
    char s[64];
    snprintf(s, sizeof s, "%.6f", x);
    return strtod(s, NULL);
}

/* ---- numpy SeedSequence ---- */

static uint32_t ss_hashmix(uint32_t v, uint32_t *hc) {
    v ^= *hc;
    *hc *= 0x931e8875u;
    v *= *hc;
    v ^= v >> 16;
    return v;
}

static uint32_t ss_mix(uint32_t x, uint32_t y) {
    uint32_t r = 0xca01f9ddu * x - 0x4973f715u * y;
    return r ^ (r >> 16);
}

static int ss_words(uint64_t v, uint32_t *out) {
    out[0] = (uint32_t)v;
    if (v >> 32) { out[1] = (uint32_t)(v >> 32); return 2; }
    return 1;
}

void bt_seed_sequence(uint64_t entropy, int spawned, uint64_t key, uint64_t depth, int n,
                      uint32_t *out) {
    uint32_t a[BT_POOL + 6] = {0}, pool[BT_POOL];
    int len = ss_words(entropy, a);
    if (spawned) {
        if (len < BT_POOL) len = BT_POOL;          /* entropy zero-padded to the pool */
        len += ss_words(key, a + len);
        len += ss_words(depth, a + len);
    }
    uint32_t hc = 0x43b0d7e5u;
    for (int i = 0; i < BT_POOL; i++) pool[i] = ss_hashmix(i < len ? a[i] : 0, &hc);
    for (int s = 0; s < BT_POOL; s++)
        for (int d = 0; d < BT_POOL; d++)
            if (s != d) pool[d] = ss_mix(pool[d], ss_hashmix(pool[s], &hc));
    for (int s = BT_POOL; s < len; s++)
        for (int d = 0; d < BT_POOL; d++) pool[d] = ss_mix(pool[d], ss_hashmix(a[s], &hc));
    uint32_t hc2 = 0x8b51f9ddu;
    for (int i = 0; i < n; i++) {
        uint32_t v = pool[i % BT_POOL] ^ hc2;
        hc2 *= 0x58f38dedu;
        v *= hc2;
        out[i] = v ^ (v >> 16);
    }
}

/* ---- tree structure ---- */

static int node_add(bt_tree *t, double start, double end, int parent, int is_left) {
    if (t->count == t->cap) {
        int cap = t->cap ? 2 * t->cap : 64;
        bt_node *nn = realloc(t->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return -1;
        t->nodes = nn;
        t->cap = cap;
    }
    bt_node *nd = &t->nodes[t->count];
    *nd = (bt_node){.start = round6(start), .end = round6(end), .parent = parent,
                    .left = -1, .right = -1, .is_left = is_left};
    if (parent >= 0) {
        const bt_node *p = &t->nodes[parent];
        nd->key = 2 * p->key + (is_left ? 0 : 1);
        nd->depth = p->depth + 1;
    }
    return t->count++;
}

static int split_exact(bt_tree *t, int i, double mid) {
    t->nodes[i].mid = round6(mid);
    uint32_t seeds[4];
    bt_seed_sequence(t->entropy, 1, t->nodes[i].key, t->nodes[i].depth, 4, seeds);
    t->nodes[i].w_seed = seeds[0];
    double s = t->nodes[i].start, e = t->nodes[i].end;
    int l = node_add(t, s, mid, i, 1);
    if (l < 0) return -1;
    int r = node_add(t, mid, e, i, 0);
    if (r < 0) return -1;
    t->nodes[i].left = l;
    t->nodes[i].right = r;
    return 0;
}

/* Split at halfway points until `point` is a midpoint somewhere below node i. */
static int split_toward(bt_tree *t, int i, double point) {
    for (;;) {
        bt_node *nd = &t->nodes[i];
        if (split_exact(t, i, 0.5 * (nd->end + nd->start))) return -1;
        nd = &t->nodes[i];   /* realloc may have moved it */
        if (point > nd->mid) i = nd->right;
        else if (point < nd->mid) i = nd->left;
        else return 0;
    }
}

static int cover_push(bt_tree *t, int i) {
    if (t->ncover == t->cover_cap) {
        int cap = t->cover_cap ? 2 * t->cover_cap : 16;
        int *c = realloc(t->cover, (size_t)cap * sizeof *c);
        if (!c) return -1;
        t->cover = c;
        t->cover_cap = cap;
    }
    t->cover[t->ncover++] = i;
    return 0;
}

/* torchsde's _loc_inner: the ordered nodes whose union is [ta, tb]. */
static int locate(bt_tree *t, int i, double ta, double tb) {
    for (;;) {
        const bt_node *nd = &t->nodes[i];
        if (ta < nd->start || tb > nd->end) {   /* not ours: ask the parent */
            if (nd->parent < 0) return -1;
            i = nd->parent;
            continue;
        }
        if (ta == nd->start && tb == nd->end) return cover_push(t, i);
        if (nd->left < 0) {
            int at_start = ta == nd->start;
            if (split_toward(t, i, at_start ? tb : ta)) return -1;
            i = at_start ? t->nodes[i].left : t->nodes[i].right;
            continue;
        }
        double mid = nd->mid;
        if (tb <= mid) { i = nd->left; continue; }
        if (ta >= mid) { i = nd->right; continue; }
        int right = nd->right;
        if (locate(t, nd->left, ta, mid)) return -1;
        i = right;
        ta = mid;
    }
}

/* ---- values ---- */

/* Make room for a cached path of `depth` nodes. */
static int path_reserve(bt_tree *t, int depth) {
    if (depth <= t->path_cap) return 0;
    int *p = realloc(t->path, (size_t)depth * sizeof *p);
    if (!p) return -1;
    t->path = p;
    float **w = realloc(t->path_w, (size_t)depth * sizeof *w);
    if (!w) return -1;
    t->path_w = w;
    for (int k = t->path_cap; k < depth; k++) t->path_w[k] = NULL;
    for (int k = t->path_cap; k < depth; k++)
        if (!(t->path_w[k] = malloc((size_t)t->n * sizeof(float)))) return -1;
    t->path_cap = depth;
    return 0;
}

/* The increment of node i: walk from the root applying the bridge at each level.
 * The last walked path stays cached (path[k], path_w[k] for k < path_len): queries
 * come in neighbouring pieces, so most of a walk is a shared prefix. */
static int node_value(bt_tree *t, int i, float *out) {
    int depth = 0;
    for (int j = i; j >= 0; j = t->nodes[j].parent) depth++;
    if (path_reserve(t, depth)) return -1;
    int *want = t->want;
    if (depth > t->want_cap) {
        want = realloc(t->want, (size_t)depth * sizeof *want);
        if (!want) return -1;
        t->want = want;
        t->want_cap = depth;
    }
    for (int j = i, k = depth - 1; j >= 0; j = t->nodes[j].parent) want[k--] = j;
    int k = 0;
    while (k < t->path_len && k < depth && t->path[k] == want[k]) k++;
    if (k == 0) {
        memcpy(t->path_w[0], t->root_w, (size_t)t->n * sizeof(float));
        t->path[0] = 0;
        k = 1;
    }
    for (; k < depth; k++) {
        const bt_node *p = &t->nodes[want[k - 1]];
        const float *pw = t->path_w[k - 1];
        float *z = t->path_w[k];
        double h_rec = 1.0 / (p->end - p->start);
        double ld = p->mid - p->start, rd = p->end - p->mid;
        float lf = (float)ld, hf = (float)h_rec, sd = (float)sqrt(ld * rd * h_rec);
        rng_seed(t->gen, p->w_seed);
        rng_randn(t->gen, z, t->n);
        for (int64_t e = 0; e < t->n; e++) z[e] = lf * pw[e] * hf + sd * z[e];
        if (!t->nodes[want[k]].is_left)
            for (int64_t e = 0; e < t->n; e++) z[e] = pw[e] - z[e];
        t->path[k] = want[k];
    }
    t->path_len = depth;
    memcpy(out, t->path_w[depth - 1], (size_t)t->n * sizeof *out);
    return 0;
}

bt_tree *bt_new(int64_t n, double t0, double t1, uint64_t seed) {
    if (n <= 0 || !(t0 <= t1)) return NULL;
    bt_tree *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->n = n;
    t->entropy = seed;
    t->root_w = malloc((size_t)n * 2 * sizeof(float));
    t->gen = malloc(sizeof *t->gen);
    if (!t->root_w || !t->gen || node_add(t, t0, t1, -1, 0) < 0) {
        bt_free(t);
        return NULL;
    }
    t->part = t->root_w + n;
    uint32_t seeds[3];
    bt_seed_sequence(seed, 0, 0, 0, 3, seeds);
    rng_seed(t->gen, seeds[0]);
    rng_randn(t->gen, t->root_w, n);
    float scale = (float)sqrt(t1 - t0);
    for (int64_t e = 0; e < n; e++) t->root_w[e] = t->root_w[e] * scale;
    return t;
}

void bt_free(bt_tree *t) {
    if (!t) return;
    free(t->nodes);
    free(t->root_w);
    free(t->gen);
    for (int k = 0; k < t->path_cap; k++) free(t->path_w[k]);
    free(t->path_w);
    free(t->want);
    free(t->path);
    free(t->cover);
    free(t);
}

int bt_increment(bt_tree *t, double ta, double tb, float *w) {
    const bt_node *root = &t->nodes[0];
    ta = fmin(fmax(ta, root->start), root->end);
    tb = fmin(fmax(tb, root->start), root->end);
    ta = round6(ta);
    tb = round6(tb);
    if (ta >= tb) {
        memset(w, 0, (size_t)t->n * sizeof *w);
        return 0;
    }
    t->ncover = 0;
    if (locate(t, 0, ta, tb)) return -3;
    float *part = t->part;
    for (int c = 0; c < t->ncover; c++) {
        if (node_value(t, t->cover[c], c == 0 ? w : part)) return -3;
        if (c > 0)
            for (int64_t e = 0; e < t->n; e++) w[e] = w[e] + part[e];
    }
    return 0;
}

int bt_noise(bt_tree *t, float sigma, float sigma_next, float *out) {
    float lo = sigma < sigma_next ? sigma : sigma_next, hi = sigma < sigma_next ? sigma_next : sigma;
    float sign = sigma < sigma_next ? 1.0f : -1.0f;
    int rc = bt_increment(t, lo, hi, out);
    if (rc) return rc;
    float denom = sqrtf(fabsf(sigma_next - sigma));
    for (int64_t e = 0; e < t->n; e++) out[e] = out[e] * sign / denom;
    return 0;
}
