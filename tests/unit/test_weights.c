/* test_weights.c -- model weights held once, and plan mode (--jit).
 *
 * A model weight (tensor_weight_copy) is bound in the compute dtype; once its primitive
 * prepared a copy of the same dtype the plain storage is freed, and every later reader
 * (another opt level wanting the plain layout, int8 quantization, a re-prepare) must
 * get the same numbers as from a weight that kept its plain data. Plan mode must leave
 * every primitive a real call needs, execute nothing and count no FLOPs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "support/tensor_ref.h"
#include "tensor/arena.h"
#include "tensor/flops.h"
#include "tensor/half.h"
#include "tensor/ops.h"

#define TOL 1e-5

static void use(precision p, opt_level opt) {
    backend_config cfg = {ACCEL_CPU, opt, p, 0, 0};
    char err[256];
    assert_int_equal(backend_init(&cfg, err, sizeof err), 0);
}

/* An owned tensor with w's values that never drops them: the reference weight. */
static tensor *plain_copy(const tensor *w) {
    tensor *t = tensor_new(w->dt, w->ndim, w->ne);
    assert_non_null(t);
    memcpy(t->data, w->data, t->nbytes);
    return t;
}

static void assert_same(const tensor *a, const tensor *b) {
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->dt, b->dt);
    assert_int_equal(a->nbytes, b->nbytes);
    assert_memory_equal(a->data, b->data, a->nbytes);
}

static void test_weight_copy(void **state) {
    (void)state;
    uint64_t seed = 7;
    tensor *w = ref_rand(&seed, 2, (int64_t[]){5, 9});
    tensor *b = tensor_weight_copy(w, DT_BF16), *f = tensor_weight_copy(w, DT_F32);
    assert_non_null(b);
    assert_non_null(f);
    assert_int_equal(b->storage, T_OWNED_APART);
    assert_int_equal(b->nbytes, 5 * 9 * 2);
    for (int i = 0; i < 45; i++)
        assert_int_equal(((uint16_t *)b->data)[i], f32_to_bf16(((float *)w->data)[i]));
    assert_memory_equal(f->data, w->data, w->nbytes);
    assert_int_equal(tensor_held_bytes(b), b->nbytes);
    assert_null(tensor_weight_copy(w, DT_I8));
    tensor_free(w);
    tensor_free(b);
    tensor_free(f);
}

/* conv and linear with a bf16 model weight at O2: the plain copy goes, the results stay
 * those of a weight that kept it, at O2, back at O1 and O0 (plain layout wanted from the
 * prepared copy), under int8 (quantized from the prepared copy, which brings the plain
 * data back) and at O3 after int8 (prepared again from that plain data). */
static void test_prepared_weight_held_once(void **state) {
    (void)state;
    uint64_t seed = 11;
    tensor *x = ref_rand(&seed, 4, (int64_t[]){1, 16, 7, 9});
    tensor *wf = ref_rand(&seed, 4, (int64_t[]){24, 16, 3, 3});
    tensor *lx = ref_rand(&seed, 2, (int64_t[]){5, 64}), *lf = ref_rand(&seed, 2, (int64_t[]){64, 64});
    tensor *bias = ref_rand(&seed, 1, (int64_t[]){24});
    tensor *w = tensor_weight_copy(wf, DT_BF16), *lw = tensor_weight_copy(lf, DT_BF16);
    tensor *wref = plain_copy(w), *lref = plain_copy(lw);
    size_t plain = w->nbytes;

    const struct { precision p; opt_level opt; } runs[] = {
        {PREC_BF16, OPT_O2}, {PREC_BF16, OPT_O1}, {PREC_BF16, OPT_O0}, {PREC_INT8, OPT_O2},
        {PREC_BF16, OPT_O3},
    };
    for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
        use(runs[r].p, runs[r].opt);
        tensor *y = op_conv2d(x, w, bias, 1, 1, 1, ACT_SILU, NULL);
        tensor *yref = op_conv2d(x, wref, bias, 1, 1, 1, ACT_SILU, NULL);
        assert_same(y, yref);
        tensor *l = op_linear(lx, lw, NULL, ACT_NONE, NULL), *lr = op_linear(lx, lref, NULL, ACT_NONE, NULL);
        assert_same(l, lr);
        if (r == 0) {
            /* Held once: the prepared copy only, about the plain size (blocked layouts pad). */
            assert_null(w->data);
            assert_null(lw->data);
            assert_non_null(w->prepared);
            assert_true(tensor_held_bytes(w) >= plain && tensor_held_bytes(w) < 2 * plain);
            assert_non_null(wref->data);
        }
        tensor_free(y);
        tensor_free(yref);
        tensor_free(l);
        tensor_free(lr);
    }
    tensor *objs[] = {x, wf, lx, lf, bias, w, lw, wref, lref};
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) tensor_free(objs[i]);
}

/* A weight of f32 values prepared in bf16 would lose them: it keeps its plain data. */
static void test_lossy_prepared_copy_keeps_plain(void **state) {
    (void)state;
    uint64_t seed = 13;
    use(PREC_BF16, OPT_O2);
    tensor *x = ref_rand(&seed, 4, (int64_t[]){1, 8, 5, 5});
    tensor *wf = ref_rand(&seed, 4, (int64_t[]){8, 8, 3, 3});
    tensor *w = tensor_weight_copy(wf, DT_F32);
    tensor *y = op_conv2d(x, w, NULL, 1, 1, 1, ACT_NONE, NULL);
    assert_non_null(y);
    assert_non_null(w->prepared);
    assert_memory_equal(w->data, wf->data, wf->nbytes);
    assert_true(tensor_held_bytes(w) > w->nbytes);
    tensor_free(y);
    tensor_free(x);
    tensor_free(wf);
    tensor_free(w);
}

/* A small block as a model writes it: norm, conv, tokens, attention, linear, upsample. */
static tensor *block(const tensor *x, const tensor *gamma, const tensor *beta, const tensor *cw,
                     const tensor *lw) {
    tensor *h = op_group_norm(x, 4, gamma, beta, 1e-5f, ACT_SILU);
    h = op_conv2d(h, cw, NULL, 1, 1, 1, ACT_NONE, x);
    tensor *t = op_permute(h, (int[]){0, 2, 3, 1});
    if (t) tensor_reshape(t, 3, (int64_t[]){x->ne[0], x->ne[2] * x->ne[3], x->ne[1]});
    t = op_layer_norm(t, NULL, NULL, 1e-5f);
    t = op_linear(op_attention(t, t, t, 2, NULL), lw, NULL, ACT_GELU, t);
    t = op_softmax(t);
    if (t) tensor_reshape(t, 4, (int64_t[]){x->ne[0], x->ne[2], x->ne[3], x->ne[1]});
    return op_upsample_nearest2x(op_permute(t, (int[]){0, 3, 1, 2}));
}

static void test_plan_creates_every_primitive(void **state) {
    (void)state;
    uint64_t seed = 17;
    tensor *x = ref_rand(&seed, 4, (int64_t[]){2, 12, 5, 3});
    tensor *gamma = ref_rand(&seed, 1, (int64_t[]){12}), *beta = ref_rand(&seed, 1, (int64_t[]){12});
    tensor *cf = ref_rand(&seed, 4, (int64_t[]){12, 12, 3, 3}), *lf = ref_rand(&seed, 2, (int64_t[]){12, 12});
    const precision precs[] = {PREC_FP32, PREC_BF16};
    for (size_t pi = 0; pi < sizeof precs / sizeof *precs; pi++) {
        precision p = precs[pi];
        use(p, OPT_O2);
        tensor *cw = tensor_weight_copy(cf, ops_weight_dt()), *lw = tensor_weight_copy(lf, ops_weight_dt());
        arena *a = arena_new();
        arena *prev = arena_use(a);
        uint64_t made = ops_primitives_created();
        double flops = flops_total();
        int was = ops_plan_set(1);
        assert_int_equal(was, 0);
        assert_true(ops_planning());
        tensor *planned = block(x, gamma, beta, cw, lw);
        ops_plan_set(was);
        assert_non_null(planned);
        assert_true(ops_primitives_created() > made);
        assert_true(flops_total() == flops);
        assert_non_null(cw->prepared);   /* prepared for real while planning */

        made = ops_primitives_created();
        arena_reset(a);
        tensor *y = block(x, gamma, beta, cw, lw);
        assert_non_null(y);
        assert_int_equal(ops_primitives_created(), made);
        assert_true(flops_total() > flops);
        assert_int_equal(y->ne[2], 10);
        assert_int_equal(y->ne[3], 6);

        /* Planning changed nothing a real call computes: the conv against its definition. */
        tensor *c = op_conv2d(x, cw, NULL, 1, 1, 1, ACT_NONE, NULL);
        tensor *cw32 = tensor_to_f32(cf);
        double *want = alloc_ref(tensor_numel(c));
        ref_conv2d(x, cw32, NULL, 1, 1, 1, want);
        double e = ref_rel_err(c, want, tensor_numel(c));
        if (!(e <= (p == PREC_BF16 ? 1e-2 : TOL))) fail_msg("conv after a plan: rel err %g", e);
        free(want);
        tensor_free(cw32);
        arena_use(prev);
        arena_free(a);
        tensor_free(cw);
        tensor_free(lw);
    }
    tensor *objs[] = {x, gamma, beta, cf, lf};
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) tensor_free(objs[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weight_copy),
        cmocka_unit_test(test_prepared_weight_held_once),
        cmocka_unit_test(test_lossy_prepared_copy_keeps_plain),
        cmocka_unit_test(test_plan_creates_every_primitive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
