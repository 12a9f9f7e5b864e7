/* test_graph_exec.c -- executor, cache, lists, errors, interrupt, priorities, history,
 * jobs, through the graph API with the test nodes of graph_support. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/graph_support.h"
#include "comfyui_ipex/node.h"

extern const ci_host graph_host;

static int setup_once(void **state) { (void)state; gs_setup(); return 0; }

static char *post_ok(const char *body) {
    int st;
    cJSON *b = gs_post(body, &st);
    if (st != 200) { char *t = json_print(b); fprintf(stderr, "POST failed: %s\n", t); free(t); }
    assert_int_equal(st, 200);
    char *id = strdup(cJSON_GetObjectItem(b, "prompt_id")->valuestring);
    cJSON_Delete(b);
    return id;
}

static cJSON *history_of(const char *id) {
    graph_reply r = graph_get_history_item(id);
    cJSON *h = json_parse(r.body, strlen(r.body));
    free(r.body);
    cJSON *e = cJSON_DetachItemFromObject(h, id);
    cJSON_Delete(h);
    return e;
}

static const char *CHAIN =
    "{\"client_id\": \"c1\", \"prompt\": {\"1\": {\"class_type\": \"TestCounter\", \"inputs\": {\"value\": %d, \"steps\": 0}}, "
    "\"2\": {\"class_type\": \"TestCounter\", \"inputs\": {\"value\": [\"1\", 0], \"steps\": 0}}, "
    "\"3\": {\"class_type\": \"TestSink\", \"inputs\": {\"value\": [\"2\", 0]}}, "
    "\"4\": {\"class_type\": \"TestCounter\", \"inputs\": {\"value\": 50, \"steps\": 0}}}}";

static void test_order_and_cache(void **state) {
    (void)state;
    char body[1024];
    snprintf(body, sizeof body, CHAIN, 1);
    size_t cur = gs_event_count();
    int runs = gs_test_runs;
    char *id = post_ok(body);
    cJSON *d = gs_wait_event("executing", id, &cur);
    assert_string_equal(cJSON_GetObjectItem(d, "node")->valuestring, "1");
    cJSON_Delete(d);
    d = gs_wait_event("executing", id, &cur);
    assert_string_equal(cJSON_GetObjectItem(d, "node")->valuestring, "2");
    cJSON_Delete(d);
    d = gs_wait_event("executed", id, &cur);
    char *out = json_print(cJSON_GetObjectItem(d, "output"));
    assert_string_equal(out, "{\"text\": [\"3/0\"]}");
    free(out);
    cJSON_Delete(d);
    cJSON_Delete(gs_wait_event("execution_success", id, &cur));
    assert_int_equal(gs_test_runs - runs, 2);   /* node 4 feeds no output: never runs */
    free(id);

    /* the same prompt again: everything cached, the UI re-sent, nothing runs */
    id = post_ok(body);
    d = gs_wait_event("execution_cached", id, &cur);
    char *nodes = json_print(cJSON_GetObjectItem(d, "nodes"));
    assert_string_equal(nodes, "[\"1\", \"2\", \"3\"]");
    free(nodes);
    cJSON_Delete(d);
    d = gs_wait_event("executed", id, &cur);
    assert_non_null(d);
    cJSON_Delete(d);
    gs_wait_done(id, &cur);
    assert_int_equal(gs_test_runs - runs, 2);
    cJSON *h = history_of(id);
    out = json_print(cJSON_GetObjectItem(h, "outputs"));
    assert_string_equal(out, "{\"3\": {\"text\": [\"3/0\"]}}");
    free(out);
    cJSON_Delete(h);
    free(id);

    /* an upstream change re-runs what depends on it */
    snprintf(body, sizeof body, CHAIN, 5);
    id = post_ok(body);
    d = gs_wait_event("executed", id, &cur);
    out = json_print(cJSON_GetObjectItem(d, "output"));
    assert_string_equal(out, "{\"text\": [\"7/0\"]}");
    free(out);
    cJSON_Delete(d);
    assert_int_equal(gs_test_runs - runs, 4);
    free(id);
}

static void test_error_keeps_daemon_healthy(void **state) {
    (void)state;
    size_t cur = gs_event_count();
    char *id = post_ok("{\"client_id\": \"c1\", \"prompt\": {\"1\": {\"class_type\": \"TestCounter\", \"inputs\": {\"value\": 13, \"steps\": 0}}, "
                       "\"2\": {\"class_type\": \"TestSink\", \"inputs\": {\"value\": [\"1\", 0]}}}}");
    cJSON *d = gs_wait_event("execution_error", id, &cur);
    assert_non_null(d);
    assert_string_equal(cJSON_GetObjectItem(d, "node_id")->valuestring, "1");
    assert_string_equal(cJSON_GetObjectItem(d, "node_type")->valuestring, "TestCounter");
    assert_string_equal(cJSON_GetObjectItem(d, "exception_message")->valuestring, "unlucky value 13\n");
    assert_string_equal(cJSON_GetObjectItem(d, "exception_type")->valuestring, "ValueError");
    char *ci = json_print(cJSON_GetObjectItem(d, "current_inputs"));
    assert_string_equal(ci, "{\"value\": [13], \"steps\": [0]}");
    free(ci);
    cJSON_Delete(d);
    d = gs_wait_event("executing", id, &cur);   /* node: null closes the prompt */
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(d, "node")));
    cJSON_Delete(d);
    cJSON *h = history_of(id);
    cJSON *st = cJSON_GetObjectItem(h, "status");
    assert_string_equal(cJSON_GetObjectItem(st, "status_str")->valuestring, "error");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(st, "completed")));
    cJSON_Delete(h);
    free(id);
    /* the next prompt runs normally */
    id = post_ok("{\"client_id\": \"c1\", \"prompt\": {\"2\": {\"class_type\": \"TestSink\", \"inputs\": {\"value\": 99}}}}");
    gs_wait_done(id, &cur);
    graph_reply r = graph_get_job(id);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"status\": \"completed\""));
    free(r.body);
    free(id);
}

static void test_interrupt(void **state) {
    (void)state;
    size_t cur = gs_event_count();
    char *id = post_ok("{\"client_id\": \"c1\", \"prompt\": {\"1\": {\"class_type\": \"TestCounter\", \"inputs\": {\"value\": 2, \"steps\": 500}}, "
                       "\"2\": {\"class_type\": \"TestSink\", \"inputs\": {\"value\": [\"1\", 0]}}}}");
    size_t first = cur;
    cJSON *d = gs_wait_event("progress", id, &cur);
    assert_non_null(d);
    char *p = json_print(d);
    assert_non_null(strstr(p, "{\"value\": 1, \"max\": 500, \"prompt_id\": "));
    free(p);
    cJSON_Delete(d);
    d = gs_wait_event("progress_state", id, &first);   /* node 1 running: 0.0 of 1.0 */
    p = json_print(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "nodes"), "1"));
    assert_non_null(strstr(p, "{\"value\": 0.0, \"max\": 1.0, \"state\": \"running\", \"node_id\": \"1\""));
    free(p);
    cJSON_Delete(d);
    d = gs_wait_event("binary", id, &first);            /* the preview, with metadata */
    p = json_print(d);
    char want[400];
    snprintf(want, sizeof want, "{\"node_id\": \"1\", \"prompt_id\": \"%s\", \"display_node_id\": \"1\", "
             "\"parent_node_id\": null, \"real_node_id\": \"1\", \"image_type\": \"image/jpeg\"}", id);
    assert_string_equal(p, want);
    free(p);
    cJSON_Delete(d);
    p = graph_executing_message("c1");      /* what a reconnecting client is told */
    assert_string_equal(p, "{\"type\": \"executing\", \"data\": {\"node\": \"1\"}}");
    free(p);
    assert_null(graph_executing_message("someone-else"));
    graph_reply r = graph_post_interrupt("{}", 2);
    assert_int_equal(r.status, 200);
    d = gs_wait_event("execution_interrupted", id, &cur);
    assert_non_null(d);
    assert_string_equal(cJSON_GetObjectItem(d, "node_id")->valuestring, "1");
    cJSON_Delete(d);
    gs_wait_done(id, &cur);
    r = graph_get_jobs("status=cancelled");
    assert_non_null(strstr(r.body, id));
    free(r.body);
    free(id);
}

/* While a slow prompt runs: A queued normally, B with front=true -> B runs first. */
static void test_priorities_and_queue(void **state) {
    (void)state;
    size_t cur = gs_event_count();
    char *slow = post_ok("{\"client_id\": \"c1\", \"prompt\": {\"1\": {\"class_type\": \"TestCounter\", \"inputs\": {\"value\": 3, \"steps\": 15}}, "
                         "\"2\": {\"class_type\": \"TestSink\", \"inputs\": {\"value\": [\"1\", 0]}}}}");
    cJSON_Delete(gs_wait_event("execution_start", slow, &cur));   /* the worker is busy */
    char *a = post_ok("{\"client_id\": \"c1\", \"prompt\": {\"2\": {\"class_type\": \"TestSink\", \"inputs\": {\"value\": 61}}}}");
    char *b = post_ok("{\"client_id\": \"c1\", \"front\": true, \"prompt\": {\"2\": {\"class_type\": \"TestSink\", \"inputs\": {\"value\": 62}}}}");
    graph_reply q = graph_get_queue();
    cJSON *qj = json_parse(q.body, strlen(q.body));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(qj, "queue_pending")), 2);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(qj, "queue_running")), 1);
    cJSON_Delete(qj);
    free(q.body);
    cJSON *d = gs_wait_event("execution_start", NULL, &cur);
    while (d && strcmp(cJSON_GetObjectItem(d, "prompt_id")->valuestring, a) &&
           strcmp(cJSON_GetObjectItem(d, "prompt_id")->valuestring, b)) {
        cJSON_Delete(d);
        d = gs_wait_event("execution_start", NULL, &cur);
    }
    assert_non_null(d);
    assert_string_equal(cJSON_GetObjectItem(d, "prompt_id")->valuestring, b);
    cJSON_Delete(d);
    cJSON_Delete(gs_wait_event("execution_success", a, &cur));
    free(slow); free(a); free(b);

    /* POST /queue delete removes a pending item */
    slow = post_ok("{\"client_id\": \"c1\", \"prompt\": {\"1\": {\"class_type\": \"TestCounter\", \"inputs\": {\"value\": 4, \"steps\": 10}}, "
                   "\"2\": {\"class_type\": \"TestSink\", \"inputs\": {\"value\": [\"1\", 0]}}}}");
    a = post_ok("{\"prompt\": {\"2\": {\"class_type\": \"TestSink\", \"inputs\": {\"value\": 63}}}}");
    char del[200];
    snprintf(del, sizeof del, "{\"delete\": [\"%s\"]}", a);
    assert_int_equal(graph_post_queue(del, strlen(del)).status, 200);
    q = graph_get_queue();
    assert_null(strstr(q.body, a));
    free(q.body);
    cJSON_Delete(gs_wait_event("execution_success", slow, &cur));
    free(slow); free(a);
}

static void test_lists(void **state) {
    (void)state;
    size_t cur = gs_event_count();
    char *id = post_ok("{\"client_id\": \"c1\", \"prompt\": {\"1\": {\"class_type\": \"TestList\", \"inputs\": {\"value\": 10}}, "
                       "\"2\": {\"class_type\": \"TestCounter\", \"inputs\": {\"value\": [\"1\", 0], \"steps\": 0}}, "
                       "\"3\": {\"class_type\": \"TestGather\", \"inputs\": {\"value\": [\"2\", 0]}}, "
                       "\"4\": {\"class_type\": \"TestSink\", \"inputs\": {\"value\": [\"2\", 0]}}}}");
    gs_wait_done(id, &cur);
    cJSON *h = history_of(id);
    char *o = json_print(cJSON_GetObjectItem(h, "outputs"));
    assert_non_null(strstr(o, "\"3\": {\"count\": [3]}"));
    /* a negative output index counts from the end, as Python indexes RETURN_TYPES */
    char *neg = post_ok("{\"client_id\": \"c1\", \"prompt\": {\"1\": {\"class_type\": \"TestCounter\", \"inputs\": {\"value\": 40, \"steps\": 0}}, "
                        "\"2\": {\"class_type\": \"TestSink\", \"inputs\": {\"value\": [\"1\", -1]}}}}");
    gs_wait_done(neg, &cur);
    cJSON *hn = history_of(neg);
    char *on = json_print(cJSON_GetObjectItem(hn, "outputs"));
    assert_string_equal(on, "{\"2\": {\"text\": [\"41/0\"]}}");
    free(on); cJSON_Delete(hn); free(neg);
    assert_non_null(strstr(o, "\"4\": {\"text\": [\"11/0\", \"12/0\", \"13/0\"]}"));
    free(o);
    cJSON_Delete(h);
    free(id);
}

static void test_history_bound_and_jobs(void **state) {
    (void)state;
    gs_restart(3, GRAPH_CACHE_DEFAULT, 0);
    size_t cur = gs_event_count();
    char *ids[5];
    for (int i = 0; i < 5; i++) {
        char body[300];
        snprintf(body, sizeof body, "{\"client_id\": \"c1\", \"prompt\": {\"2\": {\"class_type\": \"TestSink\", \"inputs\": {\"value\": %d}}}}", 70 + i);
        ids[i] = post_ok(body);
    }
    gs_wait_done(ids[4], &cur);
    graph_reply r = graph_get_history(-1, -1);
    cJSON *h = json_parse(r.body, strlen(r.body));
    assert_int_equal(cJSON_GetArraySize(h), 3);
    assert_string_equal(h->child->string, ids[2]);
    cJSON_Delete(h);
    free(r.body);
    r = graph_get_history(1, -1);
    h = json_parse(r.body, strlen(r.body));
    assert_int_equal(cJSON_GetArraySize(h), 1);
    assert_string_equal(h->child->string, ids[4]);
    cJSON_Delete(h);
    free(r.body);

    r = graph_get_jobs("status=completed&sort_order=asc&limit=2");
    h = json_parse(r.body, strlen(r.body));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h, "jobs")), 2);
    char *pg = json_print(cJSON_GetObjectItem(h, "pagination"));
    assert_string_equal(pg, "{\"offset\": 0, \"limit\": 2, \"total\": 3, \"has_more\": true}");
    free(pg);
    cJSON *job = cJSON_GetArrayItem(cJSON_GetObjectItem(h, "jobs"), 0);
    assert_string_equal(cJSON_GetObjectItem(job, "id")->valuestring, ids[2]);
    assert_int_equal(cJSON_GetObjectItem(job, "outputs_count")->valueint, 1);
    cJSON_Delete(h);
    free(r.body);
    r = graph_get_jobs("status=done");
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, "{\"error\": \"Invalid status value(s): done. Valid values: pending, in_progress, completed, failed, cancelled\"}");
    free(r.body);
    r = graph_get_jobs("limit=0");
    assert_string_equal(r.body, "{\"error\": \"limit must be a positive integer\"}");
    free(r.body);
    r = graph_cancel_jobs("{\"job_ids\": [\"x\", 5]}", 22);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, "{\"error\": \"job_ids contains invalid id(s)\", \"invalid_ids\": [\"x\", \"5\"]}");
    free(r.body);
    r = graph_get_job("00000000-0000-4000-8000-000000000000");
    assert_int_equal(r.status, 404);
    free(r.body);
    assert_int_equal(graph_post_history("{\"clear\": true}", 15).status, 200);
    r = graph_get_history(-1, -1);
    assert_string_equal(r.body, "{}");
    free(r.body);
    for (int i = 0; i < 5; i++) free(ids[i]);
    gs_restart(10000, GRAPH_CACHE_DEFAULT, 0);
}

/* Runs the CHAIN prompt with `value` and returns how many TestCounter calls it made. */
static int chain_runs(int value) {
    char body[1024];
    snprintf(body, sizeof body, CHAIN, value);
    size_t cur = gs_event_count();
    int before = gs_test_runs;
    char *id = post_ok(body);
    gs_wait_done(id, &cur);
    free(id);
    return gs_test_runs - before;
}

static int unloads, unload_memory;
static void on_free(int free_memory) { unloads++; unload_memory = free_memory; }

static void test_cache_modes(void **state) {
    (void)state;
    gs_restart(10000, GRAPH_CACHE_NONE, 0);
    assert_int_equal(chain_runs(21), 2);
    assert_int_equal(chain_runs(21), 2);          /* nothing kept */
    gs_restart(10000, GRAPH_CACHE_CLASSIC, 0);
    assert_int_equal(chain_runs(22), 2);
    assert_int_equal(chain_runs(22), 0);          /* the same prompt hits */
    assert_int_equal(chain_runs(23), 2);
    assert_int_equal(chain_runs(22), 2);          /* dropped: not in the previous prompt */
    gs_restart(10000, GRAPH_CACHE_LRU, 6);
    assert_int_equal(chain_runs(24), 2);
    assert_int_equal(chain_runs(25), 2);          /* 6 entries: three nodes of each prompt */
    assert_int_equal(chain_runs(24), 0);
    assert_int_equal(chain_runs(26), 2);          /* pushes 25 out, keeps 24 (used last) */
    assert_int_equal(chain_runs(24), 0);
    assert_int_equal(chain_runs(25), 2);
    graph_host.on_free(on_free);
    assert_int_equal(graph_post_free("{\"unload_models\": true}", 24).status, 200);
    assert_int_equal(chain_runs(25), 0);          /* unloading keeps cached outputs */
    assert_int_equal(unloads, 1);
    assert_int_equal(unload_memory, 0);
    assert_int_equal(graph_post_free("{\"free_memory\": true}", 22).status, 200);
    assert_int_equal(chain_runs(24), 2);          /* /free emptied the cache */
    assert_int_equal(unloads, 2);
    assert_int_equal(unload_memory, 1);
    gs_restart(10000, GRAPH_CACHE_DEFAULT, 0);
}

static void test_status_message(void **state) {
    (void)state;
    char *m = graph_status_message("abc");
    assert_string_equal(m, "{\"type\": \"status\", \"data\": {\"status\": {\"exec_info\": {\"queue_remaining\": 0}}, \"sid\": \"abc\"}}");
    free(m);
    graph_reply r = graph_get_prompt();
    assert_string_equal(r.body, "{\"exec_info\": {\"queue_remaining\": 0}}");
    free(r.body);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_cache),
        cmocka_unit_test(test_error_keeps_daemon_healthy),
        cmocka_unit_test(test_interrupt),
        cmocka_unit_test(test_priorities_and_queue),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_history_bound_and_jobs),
        cmocka_unit_test(test_cache_modes),
        cmocka_unit_test(test_status_message),
    };
    int rc = cmocka_run_group_tests(tests, setup_once, NULL);
    graph_stop();
    return rc;
}
