/* events.c -- the one event sink the server installs, and the messages through it.
 *
 * Messages are {"type": T, "data": D} in Python's JSON style. `sid` NULL means every
 * socket. Where ComfyUI sends an event "to the client" only, a prompt without
 * client_id produces nothing (the caller decides that; see executor.c).
 */
#include "graph/graph.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static graph_event_fn sink;
static void *sink_ud;
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;

void graph_set_event_sink(graph_event_fn fn, void *ud) {
    pthread_mutex_lock(&sink_lock);
    sink = fn; sink_ud = ud;
    pthread_mutex_unlock(&sink_lock);
}

static char *message(const char *type, cJSON *data) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "type", type);
    cJSON_AddItemToObject(m, "data", data ? data : cJSON_CreateNull());
    char *text = json_print(m);
    cJSON_Delete(m);
    return text;
}

void ev_send(const char *sid, const char *type, cJSON *data) {
    char *text = message(type, data);
    pthread_mutex_lock(&sink_lock);
    if (sink && text) sink(sink_ud, sid, text, NULL, 0);
    pthread_mutex_unlock(&sink_lock);
    free(text);
}

void ev_binary(const char *sid, const unsigned char *bin, size_t len) {
    pthread_mutex_lock(&sink_lock);
    if (sink) sink(sink_ud, sid, NULL, bin, len);
    pthread_mutex_unlock(&sink_lock);
}

static cJSON *status_data(const char *sid) {
    pthread_mutex_lock(&G.lock);
    int n = queue_remaining_locked();
    pthread_mutex_unlock(&G.lock);
    cJSON *d = cJSON_CreateObject();
    cJSON *st = cJSON_AddObjectToObject(d, "status");
    cJSON *ei = cJSON_AddObjectToObject(st, "exec_info");
    cJSON_AddItemToObject(ei, "queue_remaining", json_new_int(n));
    if (sid) cJSON_AddStringToObject(d, "sid", sid);
    return d;
}

char *graph_status_message(const char *sid) { return message("status", status_data(sid)); }

char *graph_executing_message(const char *sid) {
    char node[256] = "";
    pthread_mutex_lock(&G.lock);
    const cJSON *client = G.running ? cJSON_GetObjectItemCaseSensitive(G.running->extra_data, "client_id") : NULL;
    if (sid && cJSON_IsString(client) && !strcmp(client->valuestring, sid))
        snprintf(node, sizeof node, "%s", G.executing);
    pthread_mutex_unlock(&G.lock);
    if (!node[0]) return NULL;
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "node", node);
    return message("executing", d);
}

void ev_status_broadcast(void) { ev_send(NULL, "status", status_data(NULL)); }

void ev_progress_state(cJSON *nodes, const char *sid, const char *prompt_id, const char *node_id,
                       double value, double max, const char *state) {
    if (!nodes) return;
    cJSON_DeleteItemFromObjectCaseSensitive(nodes, node_id);
    cJSON *n = cJSON_AddObjectToObject(nodes, node_id);
    cJSON_AddItemToObject(n, "value", json_new_float(value));
    cJSON_AddItemToObject(n, "max", json_new_float(max));
    cJSON_AddStringToObject(n, "state", state);
    cJSON_AddStringToObject(n, "node_id", node_id);
    cJSON_AddStringToObject(n, "prompt_id", prompt_id);
    cJSON_AddStringToObject(n, "display_node_id", node_id);
    cJSON_AddNullToObject(n, "parent_node_id");
    cJSON_AddStringToObject(n, "real_node_id", node_id);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "prompt_id", prompt_id);
    cJSON_AddItemToObject(d, "nodes", cJSON_Duplicate(nodes, 1));
    ev_send(sid, "progress_state", d);
}

int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
