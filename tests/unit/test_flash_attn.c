/* test_flash_attn.c -- the fused attention kernel against the double reference.
 *
 * Every implementation this machine can run (AMX, AVX-512, plain C, forced through
 * flash_force_isa) on SD/CLIP head sizes (40, 64, 80, 160), odd and largest ones, with
 * Lq and Lk off the tile sizes, Lk = 77, several key blocks, and masks: CLIP's causal
 * one, and one that hides the whole first key block (the running max starts at -inf).
 * Queries are scaled up so that the softmax is peaked and its running max moves from
 * block to block, which exercises the rescaling. f32: 1e-5 of the largest output. bf16:
 * inputs are rounded to bf16 first, so the reference sees the same numbers and the
 * error left is the bf16 rounding of p and of y (2^-9 relative each): bound 5e-3.
 * Then op_attention at O3 against O1 (the primitive path) in f32 and bf16.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "support/tensor_ref.h"
#include "tensor/flash_internal.h"   /* FLASH_BK: shapes span several key blocks */
#include "tensor/ops.h"

enum { MASK_NONE, MASK_CAUSAL, MASK_FIRST_BLOCK, MASK_ROW };
#define HIDDEN_ROW 3   /* MASK_ROW hides every key from this query */

typedef struct shape { int64_t B, Lq, Lk; int H; int64_t D; int mask; } shape;

static const shape shapes[] = {
    {2, 77, 77, 8, 64, MASK_CAUSAL},     /* CLIP */
    {2, 100, 77, 8, 40, MASK_NONE},      /* cross-attention, 40-wide heads */
    {1, 300, 2 * FLASH_BK + 77, 2, 80, MASK_NONE},   /* three key blocks, tails everywhere */
    {1, 45, 2 * FLASH_BK + 4, 2, 160, MASK_FIRST_BLOCK},
    {2, 33, 17, 3, 5, MASK_NONE},        /* odd head size */
    {1, 19, 40, 1, FLASH_MAX_D, MASK_CAUSAL},
    {2, 9, FLASH_BK + 22, 2, 40, MASK_ROW},
};

static tensor *make_mask(int kind, int64_t Lq, int64_t Lk) {
    if (kind == MASK_NONE) return NULL;
    int64_t mn[2] = {Lq, Lk};
    tensor *m = tensor_new(DT_F32, 2, mn);
    for (int64_t i = 0; i < Lq; i++)
        for (int64_t j = 0; j < Lk; j++) {
            int hide = kind == MASK_CAUSAL ? j > i : kind == MASK_ROW ? i == HIDDEN_ROW : j < FLASH_BK + 2;
            ((float *)m->data)[i * Lk + j] = hide ? -INFINITY : 0.0f;
        }
    return m;
}

/* x rounded to dt and back, in place (so that the reference sees the kernel's inputs). */
static tensor *round_to(tensor *x, dtype dt) {
    tensor *r = op_cast(x, dt), *back = op_cast(r, DT_F32);
    tensor_free(x);
    tensor_free(r);
    return back;
}

static void run_shape(const shape *sh, dtype dt, flash_isa isa) {
    uint64_t seed = 99 + (uint64_t)sh->D;
    int64_t HD = sh->H * sh->D, qn[3] = {sh->B, sh->Lq, HD}, kn[3] = {sh->B, sh->Lk, HD};
    tensor *q = ref_rand(&seed, 3, qn), *k = ref_rand(&seed, 3, kn), *v = ref_rand(&seed, 3, kn);
    float sharp = 6.0f * sqrtf((float)sh->D) / 8.0f;
    for (int64_t i = 0; i < tensor_numel(q); i++) ((float *)q->data)[i] *= sharp;
    q = round_to(q, dt);
    k = round_to(k, dt);
    v = round_to(v, dt);
    tensor *mask = make_mask(sh->mask, sh->Lq, sh->Lk);
    double *want = alloc_ref(sh->B * sh->Lq * HD);
    ref_attention(q, k, v, sh->H, mask, want);
    if (sh->mask == MASK_ROW)   /* the reference's 0/0; the kernel promises zeros */
        for (int64_t b = 0; b < sh->B; b++)
            for (int64_t c = 0; c < HD; c++) want[(b * sh->Lq + HIDDEN_ROW) * HD + c] = 0.0;

    tensor *qc = op_cast(q, dt), *kc = op_cast(k, dt), *vc = op_cast(v, dt);
    tensor *y = tensor_new(dt, 3, qn);
    flash_args a = {.dt = dt, .B = sh->B, .H = sh->H, .D = sh->D, .Lq = sh->Lq, .Lk = sh->Lk,
                    .q = qc->data, .k = kc->data, .v = vc->data,
                    .mask = mask ? mask->data : NULL, .y = y->data};
    assert_true(flash_supported(dt, sh->D));
    scratch s;
    scratch_begin(&s);
    assert_int_equal(flash_attention(&a, &s), 0);
    scratch_end(&s);
    double e = ref_rel_err(y, want, sh->B * sh->Lq * HD), bound = dt == DT_BF16 ? 5e-3 : 1e-5;
    if (!(e <= bound))
        fail_msg("isa %d %s B%lld Lq%lld Lk%lld H%d D%lld mask %d: rel err %g > %g", (int)isa,
                 dtype_name(dt), (long long)sh->B, (long long)sh->Lq, (long long)sh->Lk, sh->H,
                 (long long)sh->D, sh->mask, e, bound);
    tensor *t[] = {q, k, v, qc, kc, vc, y, mask};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) tensor_free(t[i]);
    free(want);
}

static void run_isa(flash_isa isa) {
    if (flash_force_isa(isa) != 0) {
        print_message("flash isa %d: not on this machine, skipped\n", (int)isa);
        return;
    }
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        run_shape(&shapes[i], DT_F32, isa);
        run_shape(&shapes[i], DT_BF16, isa);
    }
    flash_force_isa(flash_isa_best());
}

static void test_amx(void **state) { (void)state; run_isa(FLASH_AMX); }
static void test_avx512(void **state) { (void)state; run_isa(FLASH_AVX512); }
static void test_plain_c(void **state) { (void)state; run_isa(FLASH_C); }

static void test_limits(void **state) {
    (void)state;
    assert_false(flash_supported(DT_F32, FLASH_MAX_D + 1));
    assert_false(flash_supported(DT_F16, 64));
    assert_true(flash_supported(DT_BF16, 1));
    assert_int_equal(flash_force_isa(FLASH_C), 0);   /* every machine runs plain C */
    flash_force_isa(flash_isa_best());
}

/* op_attention at O3 (fused) agrees with O1 (primitives) and with the reference. */
static void test_op_attention_o3(void **state) {
    (void)state;
    const precision precs[] = {PREC_FP32, PREC_BF16};
    for (size_t p = 0; p < 2; p++) {
        uint64_t seed = 5;
        int64_t qn[3] = {2, 200, 8 * 40}, kn[3] = {2, 77, 8 * 40};
        tensor *q = ref_rand(&seed, 3, qn), *k = ref_rand(&seed, 3, kn), *v = ref_rand(&seed, 3, kn);
        double *want = alloc_ref(2 * 200 * 320);
        ref_attention(q, k, v, 8, NULL, want);
        tensor *y[2];
        for (int i = 0; i < 2; i++) {
            backend_config cfg = {ACCEL_CPU, i ? OPT_O3 : OPT_O1, precs[p], 0, 0};
            char err[256];
            assert_int_equal(backend_init(&cfg, err, sizeof err), 0);
            y[i] = op_attention(q, k, v, 8, NULL);
            assert_non_null(y[i]);
            double e = ref_rel_err(y[i], want, 2 * 200 * 320);
            double bound = y[i]->dt == DT_BF16 ? 1e-2 : 1e-5;
            if (!(e <= bound))
                fail_msg("O%d %s: rel err %g > %g", i ? 3 : 1, dtype_name(y[i]->dt), e, bound);
        }
        assert_int_equal(y[0]->dt, y[1]->dt);
        tensor *t[] = {q, k, v, y[0], y[1]};
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) tensor_free(t[i]);
        free(want);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_amx),    cmocka_unit_test(test_avx512),
        cmocka_unit_test(test_plain_c), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_op_attention_o3),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    backend_shutdown();
    return rc;
}
