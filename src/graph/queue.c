/* queue.c -- the prompt queue and the routes that feed and inspect it.
 *
 * Pending items are kept sorted by (number, prompt_id), the order ComfyUI's heap pops
 * them in; numbers come from a counter (front: its negation) or from the request
 * (Python float(), so they print as 5.0). One lock, G.lock, guards the queue, the
 * running item and history; the worker waits on G.wake.
 */
#include "graph/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"

graph_state G = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
                  .status_order = PTHREAD_MUTEX_INITIALIZER };

void queue_item_free(queue_item *it) {
    if (!it) return;
    cJSON_Delete(it->prompt);
    cJSON_Delete(it->extra_data);
    cJSON_Delete(it->outputs);
    cJSON_Delete(it->sensitive);
    free(it);
}

static cJSON *number_json(const queue_item *it) {
    return it->number_is_float ? json_new_float(it->number) : json_new_int((int64_t)it->number);
}

cJSON *queue_item_json(const queue_item *it) {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, number_json(it));
    cJSON_AddItemToArray(a, cJSON_CreateString(it->id));
    cJSON_AddItemToArray(a, cJSON_Duplicate(it->prompt, 1));
    cJSON_AddItemToArray(a, cJSON_Duplicate(it->extra_data, 1));
    cJSON_AddItemToArray(a, cJSON_Duplicate(it->outputs, 1));
    return a;
}

int queue_remaining_locked(void) { return G.n_pending + (G.running != NULL); }

static int item_before(const queue_item *a, const queue_item *b) {
    if (a->number != b->number) return a->number < b->number;
    return strcmp(a->id, b->id) < 0;
}

static int queue_push_locked(queue_item *it) {
    if (G.n_pending == G.cap_pending) {
        int cap = G.cap_pending ? G.cap_pending * 2 : 16;
        queue_item **p = realloc(G.pending, (size_t)cap * sizeof *p);
        if (!p) return -1;
        G.pending = p; G.cap_pending = cap;
    }
    int i = G.n_pending;
    while (i > 0 && item_before(it, G.pending[i - 1])) { G.pending[i] = G.pending[i - 1]; i--; }
    G.pending[i] = it;
    G.n_pending++;
    pthread_cond_signal(&G.wake);
    return 0;
}

queue_item *queue_pop_locked(void) {
    if (G.n_pending == 0) return NULL;
    queue_item *it = G.pending[0];
    memmove(G.pending, G.pending + 1, (size_t)(--G.n_pending) * sizeof *G.pending);
    return it;
}

int queue_cancel_pending_locked(const char *id) {
    for (int i = 0; i < G.n_pending; i++) {
        if (strcmp(G.pending[i]->id, id)) continue;
        queue_item_free(G.pending[i]);
        memmove(G.pending + i, G.pending + i + 1, (size_t)(G.n_pending - i - 1) * sizeof *G.pending);
        G.n_pending--;
        return 1;
    }
    return 0;
}

/* ---- POST /prompt ---- */

static graph_reply prompt_error(cJSON *error, cJSON *node_errors) {
    cJSON *body = cJSON_CreateObject();
    cJSON_AddItemToObject(body, "error", error);
    cJSON_AddItemToObject(body, "node_errors", node_errors ? node_errors : cJSON_CreateObject());
    return reply_json(400, body);
}

/* Python float() of the request's number: numbers and numeric strings. */
static int parse_number(const cJSON *n, double *out) {
    if (cJSON_IsNumber(n)) { *out = n->valuedouble; return 0; }
    if (cJSON_IsBool(n)) { *out = cJSON_IsTrue(n); return 0; }
    if (cJSON_IsString(n)) {
        char *end;
        *out = strtod(n->valuestring, &end);
        return end != n->valuestring && *end == 0 ? 0 : -1;
    }
    return -1;
}

static void move_sensitive(queue_item *it) {
    static const char *keys[] = { "auth_token_comfy_org", "api_key_comfy_org" };
    for (int i = 0; i < 2; i++) {
        cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(it->extra_data, keys[i]);
        if (!v) continue;
        if (!it->sensitive) it->sensitive = cJSON_CreateObject();
        cJSON_AddItemToObject(it->sensitive, keys[i], v);
    }
}

graph_reply graph_post_prompt(const char *body, size_t len) {
    cJSON *req = json_parse(body, len);
    if (!cJSON_IsObject(req)) {
        cJSON_Delete(req);
        return prompt_error(error_object("invalid_json", "Invalid JSON", "The request body must be a JSON object", NULL), NULL);
    }
    queue_item *it = calloc(1, sizeof *it);
    if (!it) { cJSON_Delete(req); return reply_empty(500); }
    const cJSON *number = cJSON_GetObjectItemCaseSensitive(req, "number");
    pthread_mutex_lock(&G.lock);
    if (number) {
        it->number_is_float = 1;
        if (parse_number(number, &it->number) < 0) {
            pthread_mutex_unlock(&G.lock);
            cJSON_Delete(req); free(it);
            return prompt_error(error_object("invalid_number", "number must be a number", "", NULL), NULL);
        }
    } else {
        it->number = (double)(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "front")) ||
                              (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(req, "front")) &&
                               cJSON_GetObjectItemCaseSensitive(req, "front")->valuedouble != 0)
                              ? -G.counter : G.counter);
        G.counter++;
    }
    pthread_mutex_unlock(&G.lock);

    it->prompt = cJSON_DetachItemFromObjectCaseSensitive(req, "prompt");
    if (!it->prompt) {
        cJSON_Delete(req); queue_item_free(it);
        return prompt_error(error_object("no_prompt", "No prompt provided", "No prompt provided", NULL), NULL);
    }
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(req, "prompt_id");
    if (pid && !cJSON_IsNull(pid)) {
        if (!cJSON_IsString(pid) || !uuid_is_canonical(pid->valuestring)) {
            cJSON_Delete(req); queue_item_free(it);
            return prompt_error(error_object("invalid_prompt_id", "prompt_id must be a valid UUID",
                "prompt_id must be a UUID string in canonical lowercase hyphenated form; omit it to let the server generate one",
                NULL), NULL);
        }
        snprintf(it->id, sizeof it->id, "%s", pid->valuestring);
    } else {
        uuid4(it->id);
    }

    validation v;
    validate_prompt(it->prompt, cJSON_GetObjectItemCaseSensitive(req, "partial_execution_targets"), &v);

    cJSON *extra = cJSON_DetachItemFromObjectCaseSensitive(req, "extra_data");
    it->extra_data = cJSON_IsObject(extra) ? extra : cJSON_CreateObject();
    if (!cJSON_IsObject(extra)) cJSON_Delete(extra);
    cJSON *client = cJSON_GetObjectItemCaseSensitive(req, "client_id");
    if (client) {
        cJSON_DeleteItemFromObjectCaseSensitive(it->extra_data, "client_id");
        cJSON_AddItemToObject(it->extra_data, "client_id", cJSON_Duplicate(client, 1));
    }
    cJSON_Delete(req);

    if (!v.ok) {
        graph_reply r = prompt_error(v.error, v.node_errors);
        v.error = v.node_errors = NULL;
        validation_free(&v);
        queue_item_free(it);
        return r;
    }
    move_sensitive(it);
    cJSON_DeleteItemFromObjectCaseSensitive(it->extra_data, "create_time");
    cJSON_AddItemToObject(it->extra_data, "create_time", json_new_int(now_ms()));
    it->outputs = v.outputs;
    v.outputs = NULL;

    cJSON *ok = cJSON_CreateObject();
    cJSON_AddStringToObject(ok, "prompt_id", it->id);
    cJSON_AddItemToObject(ok, "number", number_json(it));
    cJSON_AddItemToObject(ok, "node_errors", v.node_errors);
    v.node_errors = NULL;
    validation_free(&v);

    pthread_mutex_lock(&G.status_order);
    pthread_mutex_lock(&G.lock);
    int rc = queue_push_locked(it);
    pthread_mutex_unlock(&G.lock);
    if (rc == 0) ev_status_broadcast();
    pthread_mutex_unlock(&G.status_order);
    if (rc < 0) { queue_item_free(it); cJSON_Delete(ok); return reply_empty(500); }
    return reply_json(200, ok);
}

/* ---- GET /prompt, /queue ---- */

graph_reply graph_get_prompt(void) {
    pthread_mutex_lock(&G.lock);
    int n = queue_remaining_locked();
    pthread_mutex_unlock(&G.lock);
    cJSON *b = cJSON_CreateObject();
    cJSON *ei = cJSON_AddObjectToObject(b, "exec_info");
    cJSON_AddItemToObject(ei, "queue_remaining", json_new_int(n));
    return reply_json(200, b);
}

graph_reply graph_get_queue(void) {
    cJSON *b = cJSON_CreateObject();
    cJSON *run = cJSON_AddArrayToObject(b, "queue_running");
    cJSON *pend = cJSON_AddArrayToObject(b, "queue_pending");
    pthread_mutex_lock(&G.lock);
    if (G.running) cJSON_AddItemToArray(run, queue_item_json(G.running));
    for (int i = 0; i < G.n_pending; i++) cJSON_AddItemToArray(pend, queue_item_json(G.pending[i]));
    pthread_mutex_unlock(&G.lock);
    return reply_json(200, b);
}

graph_reply graph_post_queue(const char *body, size_t len) {
    cJSON *req = json_parse(body, len);
    if (!cJSON_IsObject(req)) { cJSON_Delete(req); return reply_empty(400); }
    int changed = 0;
    pthread_mutex_lock(&G.lock);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "clear"))) {
        while (G.n_pending) { queue_item_free(queue_pop_locked()); changed = 1; }
    }
    const cJSON *del = cJSON_GetObjectItemCaseSensitive(req, "delete");
    for (const cJSON *d = cJSON_IsArray(del) ? del->child : NULL; d; d = d->next)
        if (cJSON_IsString(d)) changed |= queue_cancel_pending_locked(d->valuestring);
    pthread_mutex_unlock(&G.lock);
    cJSON_Delete(req);
    if (changed) ev_status_broadcast();
    return reply_empty(200);
}

/* ---- /interrupt, /free ---- */

graph_reply graph_post_interrupt(const char *body, size_t len) {
    cJSON *req = body && len ? json_parse(body, len) : NULL;
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(req, "prompt_id");
    pthread_mutex_lock(&G.lock);
    if (!cJSON_IsString(pid)) atomic_store(&G.interrupt, 1);
    else if (G.running && !strcmp(G.running->id, pid->valuestring)) atomic_store(&G.interrupt, 1);
    pthread_mutex_unlock(&G.lock);
    cJSON_Delete(req);
    return reply_empty(200);
}

graph_reply graph_post_free(const char *body, size_t len) {
    cJSON *req = json_parse(body, len);
    if (!cJSON_IsObject(req)) { cJSON_Delete(req); return reply_empty(400); }
    pthread_mutex_lock(&G.lock);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "unload_models"))) G.free_models = 1;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "free_memory"))) G.free_memory = 1;
    pthread_cond_signal(&G.wake);
    pthread_mutex_unlock(&G.lock);
    cJSON_Delete(req);
    return reply_empty(200);
}
