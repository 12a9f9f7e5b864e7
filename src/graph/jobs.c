/* jobs.c -- /api/jobs: queue and history as one list of jobs (spec 2.5).
 *
 * The current frontend reads queue and history only through these routes. A job is
 * built from a queue item (running, pending) or a history entry; keys whose value
 * would be null are left out. Filtering, a stable sort and paging follow ComfyUI.
 */
#include "graph/graph.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- query strings ---- */

static char *query_get(const char *query, const char *key) {
    size_t kl = strlen(key);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > kl && !strncmp(p, key, kl) && p[kl] == '=') {
            sbuf b = {0};
            for (size_t i = kl + 1; i < len; i++) {
                char c = p[i];
                if (c == '+') c = ' ';
                else if (c == '%' && i + 2 < len + 1 && isxdigit((unsigned char)p[i + 1]) && isxdigit((unsigned char)p[i + 2])) {
                    char hex[3] = { p[i + 1], p[i + 2], 0 };
                    c = (char)strtol(hex, NULL, 16);
                    i += 2;
                }
                sb_putn(&b, &c, 1);
            }
            return sb_take(&b);
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static int parse_int(const char *s, long long *out) {
    char *end;
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return -1;
    *out = strtoll(s, &end, 10);
    while (isspace((unsigned char)*end)) end++;
    return *end ? -1 : 0;
}

/* ---- job objects ---- */

static const char *workflow_id(const cJSON *extra) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(extra, "extra_pnginfo"), "workflow"), "id");
    return cJSON_IsString(id) ? id->valuestring : NULL;
}

static int is_3d(const char *name) {
    static const char *ext[] = { ".obj", ".fbx", ".gltf", ".glb", ".usdz" };
    size_t n = strlen(name);
    for (int i = 0; i < 5; i++) {
        size_t e = strlen(ext[i]);
        if (n >= e && !strcasecmp(name + n - e, ext[i])) return 1;
    }
    return 0;
}

static int previewable(const char *key, const cJSON *item) {
    static const char *keys[] = { "images", "video", "audio", "3d", "text" };
    for (int i = 0; i < 5; i++) if (!strcmp(key, keys[i])) return 1;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(item, "format");
    if (cJSON_IsString(f) && (!strncmp(f->valuestring, "video/", 6) || !strncmp(f->valuestring, "audio/", 6))) return 1;
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(item, "filename");
    return cJSON_IsString(fn) && is_3d(fn->valuestring);
}

/* Counts output items and finds the preview (first previewable item of type output,
 * else the first previewable one, else a text fallback). */
static int count_outputs(const cJSON *outputs, cJSON **preview) {
    int count = 0;
    cJSON *first = NULL, *first_output = NULL, *text = NULL;
    for (const cJSON *node = outputs ? outputs->child : NULL; node; node = node->next) {
        for (const cJSON *key = node->child; key; key = key->next) {
            if (!strcmp(key->string, "animated") || !cJSON_IsArray(key)) continue;
            for (const cJSON *item = key->child; item; item = item->next) {
                cJSON *norm = NULL;
                if (cJSON_IsObject(item)) norm = cJSON_Duplicate(item, 1);
                else if (cJSON_IsString(item) && is_3d(item->valuestring)) {
                    norm = cJSON_CreateObject();
                    cJSON_AddStringToObject(norm, "filename", item->valuestring);
                    cJSON_AddStringToObject(norm, "type", "output");
                    cJSON_AddStringToObject(norm, "subfolder", "");
                    cJSON_AddStringToObject(norm, "mediaType", "3d");
                } else if (cJSON_IsString(item) && !strcmp(key->string, "text")) {
                    count++;
                    if (!text) {
                        text = cJSON_CreateObject();
                        size_t n = strlen(item->valuestring);
                        char *c = strndup(item->valuestring, 1024);
                        cJSON_AddStringToObject(text, "content", c ? c : "");
                        free(c);
                        if (n > 1024) cJSON_AddTrueToObject(text, "truncated");
                        cJSON_AddStringToObject(text, "nodeId", node->string);
                        cJSON_AddStringToObject(text, "mediaType", "text");
                    }
                    continue;
                } else {
                    continue;
                }
                count++;
                if (!previewable(key->string, norm)) { cJSON_Delete(norm); continue; }
                cJSON_AddStringToObject(norm, "nodeId", node->string);
                if (!cJSON_GetObjectItemCaseSensitive(norm, "mediaType"))
                    cJSON_AddStringToObject(norm, "mediaType", key->string);
                const cJSON *type = cJSON_GetObjectItemCaseSensitive(norm, "type");
                int is_out = cJSON_IsString(type) && !strcmp(type->valuestring, "output");
                if (is_out && !first_output) first_output = cJSON_Duplicate(norm, 1);
                if (!first) first = norm; else cJSON_Delete(norm);
            }
        }
    }
    *preview = first_output ? first_output : first ? first : text;
    if (*preview == first_output) cJSON_Delete(first);
    if (*preview != text) cJSON_Delete(text);
    return count;
}

static const cJSON *message_data(const cJSON *entry, const char *event) {
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(entry, "status"), "messages");
    for (const cJSON *m = msgs ? msgs->child : NULL; m; m = m->next)
        if (cJSON_IsString(cJSON_GetArrayItem(m, 0)) && !strcmp(cJSON_GetArrayItem(m, 0)->valuestring, event))
            return cJSON_GetArrayItem(m, 1);
    return NULL;
}

typedef struct job { cJSON *obj; double created, duration; int index; const cJSON *entry; const char *status; } job;

static cJSON *job_base(const char *id, const char *status, const cJSON *item) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", id);
    cJSON_AddStringToObject(j, "status", status);
    cJSON_AddItemToObject(j, "priority", cJSON_Duplicate(cJSON_GetArrayItem(item, 0), 1));
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(item, 3), "create_time");
    if (ct) cJSON_AddItemToObject(j, "create_time", cJSON_Duplicate(ct, 1));
    return j;
}

static void job_from_queue(job *jb, const queue_item *it, const char *status) {
    cJSON *item = queue_item_json(it);
    jb->obj = job_base(it->id, status, item);
    jb->status = status;
    cJSON_AddItemToObject(jb->obj, "outputs_count", json_new_int(0));
    const char *wf = workflow_id(it->extra_data);
    if (wf) cJSON_AddStringToObject(jb->obj, "workflow_id", wf);
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(it->extra_data, "create_time");
    jb->created = ct ? ct->valuedouble : 0;
    cJSON_Delete(item);
}

static void job_from_history(job *jb, const char *id, const cJSON *entry) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(entry, "prompt");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(entry, "status"), "status_str");
    const char *status = "completed";
    if (cJSON_IsString(st) && !strcmp(st->valuestring, "error"))
        status = message_data(entry, "execution_interrupted") ? "cancelled" : "failed";
    jb->obj = job_base(id, status, item);
    jb->status = status;
    jb->entry = entry;
    const cJSON *start = message_data(entry, "execution_start");
    const cJSON *end = message_data(entry, "execution_success");
    if (!end) end = message_data(entry, "execution_error");
    if (!end) end = message_data(entry, "execution_interrupted");
    const cJSON *ts0 = cJSON_GetObjectItemCaseSensitive(start, "timestamp");
    const cJSON *ts1 = cJSON_GetObjectItemCaseSensitive(end, "timestamp");
    if (ts0) cJSON_AddItemToObject(jb->obj, "execution_start_time", cJSON_Duplicate(ts0, 1));
    if (ts1) cJSON_AddItemToObject(jb->obj, "execution_end_time", cJSON_Duplicate(ts1, 1));
    const cJSON *err = message_data(entry, "execution_error");
    if (err) cJSON_AddItemToObject(jb->obj, "execution_error", cJSON_Duplicate(err, 1));
    cJSON *preview = NULL;
    int count = count_outputs(cJSON_GetObjectItemCaseSensitive(entry, "outputs"), &preview);
    cJSON_AddItemToObject(jb->obj, "outputs_count", json_new_int(count));
    if (preview) cJSON_AddItemToObject(jb->obj, "preview_output", preview);
    const char *wf = workflow_id(cJSON_GetArrayItem(item, 3));
    if (wf) cJSON_AddStringToObject(jb->obj, "workflow_id", wf);
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(item, 3), "create_time");
    jb->created = ct ? ct->valuedouble : 0;
    jb->duration = ts0 && ts1 ? ts1->valuedouble - ts0->valuedouble : 0;
}

/* Details only GET /api/jobs/{id} shows for finished jobs. */
static void add_details(job *jb) {
    const cJSON *e = jb->entry;
    cJSON *outs = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(e, "outputs"), 1);
    for (cJSON *node = outs ? outs->child : NULL; node; node = node->next)
        for (cJSON *key = node->child; key; key = key->next) {
            if (!cJSON_IsArray(key)) continue;
            for (cJSON *item = key->child, *next; item; item = next) {
                next = item->next;
                if (cJSON_IsNull(item)) { cJSON_Delete(cJSON_DetachItemViaPointer(key, item)); continue; }
                if (cJSON_IsString(item) && is_3d(item->valuestring)) {
                    cJSON *d = cJSON_CreateObject();
                    cJSON_AddStringToObject(d, "filename", item->valuestring);
                    cJSON_AddStringToObject(d, "type", "output");
                    cJSON_AddStringToObject(d, "subfolder", "");
                    cJSON_AddStringToObject(d, "mediaType", "3d");
                    cJSON_ReplaceItemViaPointer(key, item, d);
                }
            }
        }
    cJSON_AddItemToObject(jb->obj, "outputs", outs ? outs : cJSON_CreateObject());
    cJSON_AddItemToObject(jb->obj, "execution_status", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(e, "status"), 1));
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(e, "prompt");
    cJSON *wf = cJSON_AddObjectToObject(jb->obj, "workflow");
    cJSON_AddItemToObject(wf, "prompt", cJSON_Duplicate(cJSON_GetArrayItem(item, 2), 1));
    cJSON_AddItemToObject(wf, "extra_data", cJSON_Duplicate(cJSON_GetArrayItem(item, 3), 1));
}

/* Every job under G.lock: running, pending, then history. */
static job *all_jobs_locked(int *n) {
    int cap = (G.running != NULL) + G.n_pending + history_count_locked();
    job *jobs = calloc((size_t)cap + 1, sizeof *jobs);
    *n = 0;
    if (!jobs) return NULL;
    if (G.running) job_from_queue(&jobs[(*n)++], G.running, "in_progress");
    for (int i = 0; i < G.n_pending; i++) job_from_queue(&jobs[(*n)++], G.pending[i], "pending");
    for (int i = 0; i < history_count_locked(); i++) {
        const char *id;
        const cJSON *e = history_entry_at_locked(i, &id);
        job_from_history(&jobs[(*n)++], id, e);
    }
    for (int i = 0; i < *n; i++) jobs[i].index = i;
    return jobs;
}

static void jobs_free(job *jobs, int n) {
    for (int i = 0; i < n; i++) cJSON_Delete(jobs[i].obj);
    free(jobs);
}

static int sort_duration, sort_desc;
static int job_cmp(const void *pa, const void *pb) {
    const job *a = pa, *b = pb;
    double x = sort_duration ? a->duration : a->created, y = sort_duration ? b->duration : b->created;
    if (x != y) return (x < y) == !sort_desc ? -1 : 1;
    return a->index - b->index;
}

static graph_reply job_error(int status, const char *msg) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "error", msg);
    return reply_json(status, b);
}

static const char *const valid_status[] = { "pending", "in_progress", "completed", "failed", "cancelled" };

static int status_filter(const char *s, unsigned *mask, char **bad) {
    *mask = 0;
    sbuf b = {0};
    char *copy = strdup(s), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*t)) t++;
        size_t l = strlen(t);
        while (l && isspace((unsigned char)t[l - 1])) t[--l] = 0;
        if (!*t) continue;
        int k = -1;
        for (int i = 0; i < 5; i++) if (!strcmp(t, valid_status[i])) k = i;
        if (k >= 0) *mask |= 1u << k;
        else sb_printf(&b, "%s%s", b.len ? ", " : "", t);
    }
    free(copy);
    *bad = sb_take(&b);
    if (*bad && !**bad) { free(*bad); *bad = NULL; }
    return *bad ? -1 : 0;
}

graph_reply graph_get_jobs(const char *query) {
    char *status = query_get(query, "status"), *wf = query_get(query, "workflow_id");
    char *sort_by = query_get(query, "sort_by"), *order = query_get(query, "sort_order");
    char *limit_s = query_get(query, "limit"), *offset_s = query_get(query, "offset");
    graph_reply err = { 0, NULL };
    unsigned mask = 0x1f;
    long long limit = -1, offset = 0;
    char *bad = NULL;
    if (status && status_filter(status, &mask, &bad) < 0) {
        sbuf m = {0};
        sb_printf(&m, "Invalid status value(s): %s. Valid values: pending, in_progress, completed, failed, cancelled", bad);
        char *ms = sb_take(&m);
        err = job_error(400, ms);
        free(ms); free(bad);
    } else if (sort_by && strcmp(sort_by, "created_at") && strcmp(sort_by, "execution_duration")) {
        err = job_error(400, "sort_by must be 'created_at' or 'execution_duration'");
    } else if (order && strcmp(order, "asc") && strcmp(order, "desc")) {
        err = job_error(400, "sort_order must be 'asc' or 'desc'");
    } else if (limit_s && parse_int(limit_s, &limit) < 0) {
        err = job_error(400, "limit must be an integer");
    } else if (limit_s && limit <= 0) {
        err = job_error(400, "limit must be a positive integer");
    } else if (offset_s && parse_int(offset_s, &offset) < 0) {
        err = job_error(400, "offset must be an integer");
    }
    if (status && !mask) mask = 0x1f;
    int duration = sort_by && !strcmp(sort_by, "execution_duration");
    int desc = !order || !strcmp(order, "desc");
    free(status); free(sort_by); free(order); free(limit_s); free(offset_s);
    if (err.status) { free(wf); return err; }
    if (offset < 0) offset = 0;

    pthread_mutex_lock(&G.lock);
    int n;
    job *jobs = all_jobs_locked(&n);
    pthread_mutex_unlock(&G.lock);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        int k = 0;
        for (int s = 0; s < 5; s++) if (!strcmp(jobs[i].status, valid_status[s])) k = s;
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(jobs[i].obj, "workflow_id");
        int keep = (mask & (1u << k)) && (!wf || (cJSON_IsString(w) && !strcmp(w->valuestring, wf)));
        if (keep) jobs[kept++] = jobs[i];
        else cJSON_Delete(jobs[i].obj);
    }
    free(wf);
    sort_duration = duration; sort_desc = desc;
    qsort(jobs, (size_t)kept, sizeof *jobs, job_cmp);
    cJSON *body = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(body, "jobs");
    int shown = 0;
    for (int i = 0; i < kept; i++) {
        if (i < offset || (limit > 0 && shown >= limit)) continue;
        cJSON_AddItemToArray(list, jobs[i].obj);
        jobs[i].obj = NULL;
        shown++;
    }
    cJSON *pg = cJSON_AddObjectToObject(body, "pagination");
    cJSON_AddItemToObject(pg, "offset", json_new_int(offset));
    cJSON_AddItemToObject(pg, "limit", limit > 0 ? json_new_int(limit) : cJSON_CreateNull());
    cJSON_AddItemToObject(pg, "total", json_new_int(kept));
    cJSON_AddBoolToObject(pg, "has_more", offset + shown < kept);
    jobs_free(jobs, kept);
    return reply_json(200, body);
}

graph_reply graph_get_job(const char *job_id) {
    if (!job_id) return job_error(404, "Job not found");
    pthread_mutex_lock(&G.lock);
    int n;
    job *jobs = all_jobs_locked(&n);
    cJSON *found = NULL;
    for (int i = 0; i < n && !found; i++) {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jobs[i].obj, "id")), job_id)) continue;
        if (jobs[i].entry) add_details(&jobs[i]);
        found = jobs[i].obj;
        jobs[i].obj = NULL;
    }
    pthread_mutex_unlock(&G.lock);
    jobs_free(jobs, n);
    if (!found) return job_error(404, "Job not found");
    return reply_json(200, found);
}

/* Running: interrupt (only if still that job); pending: remove. */
static int cancel_locked(const char *id) {
    if (G.running && !strcmp(G.running->id, id)) { atomic_store(&G.interrupt, 1); return 1; }
    return queue_cancel_pending_locked(id);
}

static graph_reply cancelled_reply(int any) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddBoolToObject(b, "cancelled", any);
    return reply_json(200, b);
}

graph_reply graph_cancel_job(const char *job_id) {
    pthread_mutex_lock(&G.lock);
    int pending_before = G.n_pending;
    int any = job_id && cancel_locked(job_id);
    int changed = G.n_pending != pending_before;
    pthread_mutex_unlock(&G.lock);
    if (changed) ev_status_broadcast();
    return cancelled_reply(any);
}

graph_reply graph_cancel_jobs(const char *body, size_t len) {
    cJSON *req = json_parse(body, len);
    if (!req) return job_error(400, "Request body must be valid JSON");
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(req, "job_ids");
    if (!cJSON_IsArray(ids)) { cJSON_Delete(req); return job_error(400, "job_ids must be a list"); }
    cJSON *invalid = cJSON_CreateArray();
    for (const cJSON *i = ids->child; i; i = i->next) {
        if (cJSON_IsString(i) && uuid_is_canonical(i->valuestring)) continue;
        if (cJSON_IsString(i)) cJSON_AddItemToArray(invalid, cJSON_Duplicate(i, 0));
        else { char *r = json_py_repr(i); cJSON_AddItemToArray(invalid, cJSON_CreateString(r ? r : "")); free(r); }
    }
    if (cJSON_GetArraySize(invalid)) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "error", "job_ids contains invalid id(s)");
        cJSON_AddItemToObject(b, "invalid_ids", invalid);
        cJSON_Delete(req);
        return reply_json(400, b);
    }
    cJSON_Delete(invalid);
    int any = 0;
    pthread_mutex_lock(&G.lock);
    int pending_before = G.n_pending;
    for (const cJSON *i = ids->child; i; i = i->next) any |= cancel_locked(i->valuestring);
    int changed = G.n_pending != pending_before;
    pthread_mutex_unlock(&G.lock);
    cJSON_Delete(req);
    if (changed) ev_status_broadcast();
    return cancelled_reply(any);
}
