/* test_backend.c -- engine selection, device discovery and oneDNN identity. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <omp.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "backend/backend.h"
#include "tensor/arena.h"
#include "tensor/ops.h"

/* The first op of a process brings the cpu engine up by itself, whichever op it is
 * (concat creates its primitive without asking for settings first). Runs first. */
static void test_lazy_engine(void **state) {
    (void)state;
    int64_t ne[2] = {2, 3};
    tensor *a = tensor_new(DT_F32, 2, ne), *c = op_concat(a, a, 0);
    assert_non_null(c);
    assert_int_equal(c->ne[0], 4);
    assert_string_equal(backend_engine_name(), "cpu");
    tensor_free(c);
    tensor_free(a);
}

static void *threads_on_worker(void *arg) {
    (void)arg;
    int64_t ne[1] = {4};
    tensor *a = tensor_new(DT_F32, 1, ne), *s = op_scale(a, 2.0f, 1.0f);
    intptr_t n = s ? omp_get_max_threads() : -1;
    tensor_free(s);
    tensor_free(a);
    return (void *)n;
}

/* --threads reaches the thread that runs the ops, not only the one that called init. */
static void test_threads_follow_ops(void **state) {
    (void)state;
    backend_config cfg = {ACCEL_CPU, OPT_O1, PREC_FP32, 1, 0};
    char err[256];
    omp_set_num_threads(2);
    assert_int_equal(backend_init(&cfg, err, sizeof err), 0);
    pthread_t t;
    void *n = NULL;
    assert_int_equal(pthread_create(&t, NULL, threads_on_worker, NULL), 0);
    pthread_join(t, &n);
    assert_int_equal((intptr_t)n, 1);
}

static void test_cpu_init(void **state) {
    (void)state;
    backend_config cfg = {ACCEL_CPU, OPT_O2, PREC_FP32, 1, 0};
    char err[256] = "";
    assert_int_equal(backend_init(&cfg, err, sizeof err), 0);
    assert_string_equal(backend_engine_name(), "cpu");
    assert_int_equal(backend_settings()->opt, OPT_O2);
    assert_int_equal(strncmp(backend_onednn_version(), "2.", 2), 0);
    assert_true(strlen(backend_isa()) > 0);
    backend_device cpu;
    backend_cpu_device(&cpu);
    assert_string_equal(cpu.type, "cpu");
    assert_true(cpu.vram_total > 0 && cpu.vram_free <= cpu.vram_total);
    backend_device cur;
    backend_current_device(&cur);
    assert_string_equal(cur.type, "cpu");
    /* The allocator figures move with what ops hold. */
    uint64_t before = backend_bytes_reserved();
    arena *a = arena_new();
    int64_t ne[1] = {1 << 20};
    arena_tensor(a, DT_F32, 1, ne);
    assert_true(backend_bytes_reserved() >= before + (4u << 20));
    assert_true(backend_bytes_in_use() >= (4u << 20));
    arena_free(a);
    assert_int_equal(backend_bytes_reserved(), before);
}

/* auto always comes up (xpu or cpu); xpu without a usable GPU is an error, not cpu. */
static void test_accel_choice(void **state) {
    (void)state;
    backend_device dev[4];
    int ngpu = backend_discover(dev, 4);
    assert_true(ngpu >= 0);
    assert_int_equal(backend_discover(NULL, 0), ngpu);   /* cached */
    char err[256] = "";
    backend_config cfg = {ACCEL_AUTO, OPT_O1, PREC_FP32, 0, 0};
    assert_int_equal(backend_init(&cfg, err, sizeof err), 0);
    if (ngpu == 0) assert_string_equal(backend_engine_name(), "cpu");
    cfg.accel = ACCEL_XPU;
    int rc = backend_init(&cfg, err, sizeof err);
    if (ngpu == 0) {
        assert_int_equal(rc, -1);
        assert_non_null(strstr(err, "xpu"));
    }
    backend_shutdown();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lazy_engine),
        cmocka_unit_test(test_cpu_init),
        cmocka_unit_test(test_threads_follow_ops),
        cmocka_unit_test(test_accel_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
