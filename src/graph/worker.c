/* worker.c -- the one worker thread: takes the next prompt, runs it, records it.
 *
 * Per prompt (spec 6.1): the interrupt flag is cleared, the item becomes "running",
 * status goes out, the executor runs, history is written, status goes out again and
 * finally `executing {node: null}` -- in that order, so a client that waits for the
 * null node can read /history at once. Between prompts the /free flags are applied:
 * packs' free hooks run (unload), and free_memory also empties the output cache,
 * which holds the last references to models.
 */
#include "graph/graph.h"

#include <stdlib.h>
#include <string.h>
#include "base/log.h"

static void (*free_hooks[16])(int free_memory);
static int n_free_hooks;

int graph_on_free(void (*fn)(int free_memory)) {
    if (!fn || n_free_hooks == (int)(sizeof free_hooks / sizeof *free_hooks)) return -1;
    free_hooks[n_free_hooks++] = fn;
    return 0;
}

static void apply_free_flags_locked(void) {
    if (!G.free_models && !G.free_memory) return;
    int memory = G.free_memory;
    G.free_models = G.free_memory = 0;
    pthread_mutex_unlock(&G.lock);
    if (memory) cache_clear();
    for (int i = 0; i < n_free_hooks; i++) free_hooks[i](memory);
    log_info("graph: /free applied (%s)", memory ? "models unloaded, cache emptied" : "models unloaded");
    pthread_mutex_lock(&G.lock);
}

static void run_one(queue_item *it) {
    atomic_store(&G.interrupt, 0);
    pthread_mutex_lock(&G.status_order);   /* after the POST that queued it has sent its status */
    ev_status_broadcast();
    pthread_mutex_unlock(&G.status_order);
    exec_outcome out = {0};
    executor_run(it, &out);
    const cJSON *client = cJSON_GetObjectItemCaseSensitive(it->extra_data, "client_id");
    char *sid = cJSON_IsString(client) ? strdup(client->valuestring) : NULL;
    char id[40];
    memcpy(id, it->id, sizeof id);
    pthread_mutex_lock(&G.lock);
    history_add(it, &out);          /* takes the item and the outcome */
    G.running = NULL;
    pthread_mutex_unlock(&G.lock);
    ev_status_broadcast();
    if (sid) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddNullToObject(d, "node");
        cJSON_AddStringToObject(d, "prompt_id", id);
        ev_send(sid, "executing", d);
    }
    free(sid);
}

static void *worker_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&G.lock);
    while (!G.stop) {
        apply_free_flags_locked();
        queue_item *it = queue_pop_locked();
        if (!it) { pthread_cond_wait(&G.wake, &G.lock); continue; }
        G.running = it;
        pthread_mutex_unlock(&G.lock);
        run_one(it);
        cache_trim();
        pthread_mutex_lock(&G.lock);
    }
    pthread_mutex_unlock(&G.lock);
    return NULL;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

int graph_start(const graph_config *cfg) {
    if (G.started) return -1;
    G.cfg = *cfg;
    G.cfg.output_dir = dup_or_null(cfg->output_dir);
    G.cfg.input_dir = dup_or_null(cfg->input_dir);
    G.cfg.temp_dir = dup_or_null(cfg->temp_dir);
    if (G.cfg.max_history <= 0) G.cfg.max_history = 10000;
    G.stop = 0;
    if (pthread_create(&G.thread, NULL, worker_main, NULL) != 0) {
        log_error("graph: cannot start the worker thread");
        return -1;
    }
    G.started = 1;
    return 0;
}

void graph_stop(void) {
    if (!G.started) return;
    pthread_mutex_lock(&G.lock);
    G.stop = 1;
    atomic_store(&G.interrupt, 1);
    pthread_cond_broadcast(&G.wake);
    pthread_mutex_unlock(&G.lock);
    pthread_join(G.thread, NULL);
    G.started = 0;
    pthread_mutex_lock(&G.lock);
    while (G.n_pending) queue_item_free(queue_pop_locked());
    free(G.pending);
    G.pending = NULL; G.cap_pending = 0;
    G.counter = 0;
    pthread_mutex_unlock(&G.lock);
    history_clear_all();
    cache_clear();
    free((char *)G.cfg.output_dir); free((char *)G.cfg.input_dir); free((char *)G.cfg.temp_dir);
    memset(&G.cfg, 0, sizeof G.cfg);
}
