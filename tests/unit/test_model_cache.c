/* test_model_cache.c -- the loaded-model cache: hits, LRU eviction within the budget,
 * entries kept alive by their users after eviction or /free, entries that grow once
 * their weights are prepared. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "models/model_cache.h"

static int destroyed[8];

static void destroy(void *p) { destroyed[*(int *)p]++; free(p); }

static mc_obj *put(const char *key, int id, size_t bytes) {
    int *p = malloc(sizeof *p);
    *p = id;
    return mc_insert(key, p, bytes, destroy);
}

static void test_hit_and_lru_eviction(void **state) {
    (void)state;
    mc_set_budget(100);
    mc_release(put("a", 0, 40));
    mc_release(put("b", 1, 40));
    mc_obj *a = mc_acquire("a");          /* a becomes the most recent */
    assert_non_null(a);
    assert_int_equal(*(int *)mc_payload(a), 0);
    mc_release(a);
    mc_release(put("c", 2, 40));          /* 120 > 100: b, the least recent, goes */
    assert_int_equal(destroyed[1], 1);
    assert_null(mc_acquire("b"));
    assert_int_equal(mc_count(), 2);
    assert_int_equal(mc_bytes(), 80);
    mc_clear();
    assert_int_equal(destroyed[0] + destroyed[2], 2);
    assert_int_equal(mc_count(), 0);
}

static void test_users_keep_evicted_entries(void **state) {
    (void)state;
    mc_set_budget(10);
    mc_obj *big = put("big", 3, 50);      /* over budget alone: kept, it is the newest */
    assert_int_equal(mc_count(), 1);
    mc_obj *other = put("other", 4, 5);   /* evicts big from the cache ... */
    assert_null(mc_acquire("big"));
    assert_int_equal(destroyed[3], 0);    /* ... but its user still holds it */
    mc_release(big);
    assert_int_equal(destroyed[3], 1);
    mc_clear();
    assert_int_equal(destroyed[4], 0);
    mc_release(other);
    assert_int_equal(destroyed[4], 1);
    mc_set_budget(0);
}

static void test_resize_counts_and_evicts(void **state) {
    (void)state;
    mc_set_budget(100);
    mc_release(put("old", 5, 40));
    mc_obj *used = put("used", 6, 40);
    mc_resize(used, 30);                  /* smaller: counted, nothing goes */
    assert_int_equal(mc_bytes(), 70);
    assert_int_equal(mc_count(), 2);
    mc_resize(used, 70);                  /* 110 > 100: the colder entry goes, never this one */
    assert_int_equal(mc_bytes(), 70);
    assert_int_equal(destroyed[5], 1);
    assert_null(mc_acquire("old"));
    mc_clear();
    mc_resize(used, 90);                  /* no longer cached: nothing to count */
    assert_int_equal(mc_bytes(), 0);
    mc_release(used);
    assert_int_equal(destroyed[6], 1);
    mc_set_budget(0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_and_lru_eviction),
        cmocka_unit_test(test_users_keep_evicted_entries),
        cmocka_unit_test(test_resize_counts_and_evicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
