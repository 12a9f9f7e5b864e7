/* history.c -- finished prompts, oldest first, bounded, in memory only.
 *
 * An entry is stored exactly as /history prints it (prompt item, outputs, status,
 * meta), so the routes and the jobs view only copy. The bound drops the oldest entry
 * before a new one would exceed graph_config.max_history.
 */
#include "graph/graph.h"

#include <stdlib.h>
#include <string.h>

typedef struct hist_entry { char id[40]; cJSON *entry; } hist_entry;
static hist_entry *hist;
static int n_hist, cap_hist;

int history_count_locked(void) { return n_hist; }

const cJSON *history_entry_at_locked(int i, const char **id) {
    if (i < 0 || i >= n_hist) return NULL;
    if (id) *id = hist[i].id;
    return hist[i].entry;
}

static void drop_locked(int i) {
    cJSON_Delete(hist[i].entry);
    memmove(hist + i, hist + i + 1, (size_t)(n_hist - i - 1) * sizeof *hist);
    n_hist--;
}

void history_add(queue_item *it, exec_outcome *out) {
    static const char *status_str[] = { "success", "error", "error" };
    cJSON *e = cJSON_CreateObject();
    cJSON_AddItemToObject(e, "prompt", queue_item_json(it));
    cJSON_AddItemToObject(e, "outputs", out->outputs ? out->outputs : cJSON_CreateObject());
    cJSON *st = cJSON_AddObjectToObject(e, "status");
    cJSON_AddStringToObject(st, "status_str", status_str[out->status]);
    cJSON_AddBoolToObject(st, "completed", out->status == 0);
    cJSON_AddItemToObject(st, "messages", out->messages ? out->messages : cJSON_CreateArray());
    cJSON_AddItemToObject(e, "meta", out->meta ? out->meta : cJSON_CreateObject());
    memset(out, 0, sizeof *out);

    while (n_hist > 0 && n_hist >= G.cfg.max_history) drop_locked(0);
    if (n_hist == cap_hist) {
        int cap = cap_hist ? cap_hist * 2 : 64;
        hist_entry *p = realloc(hist, (size_t)cap * sizeof *p);
        if (!p) { cJSON_Delete(e); queue_item_free(it); return; }
        hist = p; cap_hist = cap;
    }
    memcpy(hist[n_hist].id, it->id, sizeof it->id);
    hist[n_hist].entry = e;
    n_hist++;
    queue_item_free(it);
}

void history_clear_all(void) {
    pthread_mutex_lock(&G.lock);
    while (n_hist) drop_locked(n_hist - 1);
    free(hist);
    hist = NULL; cap_hist = 0;
    pthread_mutex_unlock(&G.lock);
}

/* ComfyUI's paging: offset < 0 with max_items means "the last max_items"; the
 * max_items test runs after an entry is added. max_items < 0: no limit. */
graph_reply graph_get_history(int max_items, int offset) {
    cJSON *out = cJSON_CreateObject();
    pthread_mutex_lock(&G.lock);
    if (offset < 0 && max_items >= 0) offset = n_hist - max_items;
    int added = 0;
    for (int i = 0; i < n_hist; i++) {
        if (i < offset) continue;
        cJSON_AddItemToObject(out, hist[i].id, cJSON_Duplicate(hist[i].entry, 1));
        if (max_items >= 0 && ++added >= max_items) break;
    }
    pthread_mutex_unlock(&G.lock);
    return reply_json(200, out);
}

graph_reply graph_get_history_item(const char *prompt_id) {
    cJSON *out = cJSON_CreateObject();
    pthread_mutex_lock(&G.lock);
    for (int i = 0; prompt_id && i < n_hist; i++)
        if (!strcmp(hist[i].id, prompt_id)) {
            cJSON_AddItemToObject(out, hist[i].id, cJSON_Duplicate(hist[i].entry, 1));
            break;
        }
    pthread_mutex_unlock(&G.lock);
    return reply_json(200, out);
}

graph_reply graph_post_history(const char *body, size_t len) {
    cJSON *req = json_parse(body, len);
    if (!cJSON_IsObject(req)) { cJSON_Delete(req); return reply_empty(400); }
    pthread_mutex_lock(&G.lock);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "clear")))
        while (n_hist) drop_locked(n_hist - 1);
    const cJSON *del = cJSON_GetObjectItemCaseSensitive(req, "delete");
    for (const cJSON *d = cJSON_IsArray(del) ? del->child : NULL; d; d = d->next)
        for (int i = 0; cJSON_IsString(d) && i < n_hist; i++)
            if (!strcmp(hist[i].id, d->valuestring)) { drop_locked(i); break; }
    pthread_mutex_unlock(&G.lock);
    cJSON_Delete(req);
    return reply_empty(200);
}
