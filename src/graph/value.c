/* value.c -- reference-counted values and the host table node functions call into.
 *
 * A value is either a JSON constant (INT, FLOAT, STRING, BOOLEAN, or any JSON a node
 * returns) or an object: a type name, a payload and its destructor. Values are shared
 * between the cache, consumers and list slots, so they are counted, never copied.
 * The host functions below read a call record (graph.h) that the executor or the
 * validator fills in; a node only ever sees `ci_call *`.
 */
#include "graph/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/folders.h"

/* ---- values ---- */

static ci_value *value_new(void) {
    ci_value *v = calloc(1, sizeof *v);
    if (v) atomic_init(&v->refs, 1);
    return v;
}

ci_value *value_json(cJSON *json) {
    ci_value *v = json ? value_new() : NULL;
    if (!v) { cJSON_Delete(json); return NULL; }
    v->json = json;
    return v;
}

static ci_value *value_object(const char *type, void *payload, void (*destroy)(void *)) {
    ci_value *v = value_new();
    if (!v) return NULL;
    v->type = strdup(type ? type : "*");
    if (!v->type) { free(v); return NULL; }
    v->payload = payload;
    v->destroy = destroy;
    return v;
}

ci_value *value_ref(const ci_value *cv) {
    ci_value *v = (ci_value *)cv;
    if (v) atomic_fetch_add(&v->refs, 1);
    return v;
}

void value_unref(ci_value *v) {
    if (!v || atomic_fetch_sub(&v->refs, 1) != 1) return;
    if (v->destroy) v->destroy(v->payload);
    cJSON_Delete(v->json);
    free(v->type);
    free(v);
}

const char *value_type(const ci_value *v) {
    if (v->type) return v->type;
    const cJSON *j = v->json;
    if (json_is_int(j)) return "INT";
    if (cJSON_IsNumber(j)) return "FLOAT";
    if (cJSON_IsString(j)) return "STRING";
    if (cJSON_IsBool(j)) return "BOOLEAN";
    return "*";
}

static void *value_payload(const ci_value *v, const char *type) {
    return v && v->type && (!type || !strcmp(v->type, type)) ? v->payload : NULL;
}

static const cJSON *value_as_json(const ci_value *v) { return v ? v->json : NULL; }

int vlist_push(vlist *l, ci_value *v) {
    if (!v) return -1;
    if (l->n == l->cap) {
        if (l->cap > (1 << 28)) { value_unref(v); return -1; }   /* a runaway list */
        int cap = l->cap ? l->cap * 2 : 2;
        ci_value **p = realloc(l->v, (size_t)cap * sizeof *p);
        if (!p) { value_unref(v); return -1; }
        l->v = p; l->cap = cap;
    }
    l->v[l->n++] = v;
    return 0;
}

void vlist_clear(vlist *l) {
    for (int i = 0; i < l->n; i++) value_unref(l->v[i]);
    free(l->v);
    l->v = NULL; l->n = l->cap = 0;
}

/* ---- the host table ---- */

static call_rec *rec(ci_call *c) { return (call_rec *)c; }

static vlist *linked(call_rec *r, const char *input) {
    for (int i = 0; i < r->n_in; i++)
        if (!strcmp(r->in_names[i], input)) return &r->in_lists[i];
    return NULL;
}

static const cJSON *h_get_json(ci_call *c, const char *input) {
    return cJSON_GetObjectItemCaseSensitive(rec(c)->consts, input);
}

static const ci_value *h_get_at(ci_call *c, const char *input, int i) {
    vlist *l = linked(rec(c), input);
    if (!l || l->n == 0 || i < 0) return NULL;
    return l->v[i < l->n ? i : l->n - 1];
}

static const ci_value *h_get(ci_call *c, const char *input) {
    call_rec *r = rec(c);
    return h_get_at(c, input, r->index < 0 ? 0 : r->index);
}

static int h_count(ci_call *c, const char *input) {
    vlist *l = linked(rec(c), input);
    if (l) return l->n;
    return h_get_json(c, input) ? 1 : 0;
}

static const cJSON *number_of(ci_call *c, const char *input) {
    const cJSON *j = h_get_json(c, input);
    if (!j) j = value_as_json(h_get(c, input));
    return j;
}

static int64_t h_get_i64(ci_call *c, const char *input) {
    const cJSON *j = number_of(c, input);
    int64_t v = 0;
    if (json_get_i64(j, &v) < 0 && cJSON_IsNumber(j)) v = (int64_t)j->valuedouble;
    return v;
}

static uint64_t h_get_u64(ci_call *c, const char *input) {
    const cJSON *j = number_of(c, input);
    uint64_t u = 0;
    int64_t i;
    if (json_get_u64(j, &u) == 0) return u;
    if (json_get_i64(j, &i) == 0) return (uint64_t)i;
    return 0;
}

static const cJSON *h_hidden(ci_call *c, const char *input) {
    call_rec *r = rec(c);
    const char *magic = registry_hidden(r->node, input);
    if (!magic) return NULL;
    if (!strcmp(magic, "PROMPT")) return r->prompt;
    if (!strcmp(magic, "EXTRA_PNGINFO")) return r->extra_pnginfo;
    return NULL;
}

static const char *h_node_id(ci_call *c) { return rec(c)->node_id; }
static const char *h_prompt_id(ci_call *c) { return rec(c)->prompt_id; }

static int h_set_output(ci_call *c, int index, ci_value *v) {
    call_rec *r = rec(c);
    if (!r->outs || index < 0 || index >= r->node->def->n_outputs) { value_unref(v); return -1; }
    return vlist_push(&r->outs[index], v);
}

static int h_ui_add(ci_call *c, const char *key, cJSON *item) {
    call_rec *r = rec(c);
    if (!item) return -1;
    if (!r->ui) r->ui = cJSON_CreateObject();
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(r->ui, key);
    if (!arr) arr = cJSON_AddArrayToObject(r->ui, key);
    if (!arr) { cJSON_Delete(item); return -1; }
    cJSON_AddItemToArray(arr, item);
    return 0;
}

static int h_fail(ci_call *c, const char *exception_type, const char *fmt, va_list ap) {
    call_rec *r = rec(c);
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    free(r->err_type); free(r->err_msg);
    r->err_type = strdup(exception_type ? exception_type : "RuntimeError");
    r->err_msg = strdup(msg);
    return -1;
}

static int h_interrupted(ci_call *c) {
    call_rec *r = rec(c);
    if (atomic_load(&G.interrupt)) r->interrupted = 1;
    return r->interrupted;
}

static int h_progress(ci_call *c, int64_t value, int64_t max) {
    call_rec *r = rec(c);
    if (h_interrupted(c)) return 1;
    ev_progress_state(r->progress_nodes, r->client_id, r->prompt_id, r->node_id, (double)value,
                      (double)max, "running");
    cJSON *d = cJSON_CreateObject();
    cJSON_AddItemToObject(d, "value", json_new_int(value));
    cJSON_AddItemToObject(d, "max", json_new_int(max));
    cJSON_AddStringToObject(d, "prompt_id", r->prompt_id);
    cJSON_AddStringToObject(d, "node", r->node_id);
    ev_send(r->client_id, "progress", d);
    return 0;
}

/* Type 4 (PREVIEW_IMAGE_WITH_METADATA): BE type, BE metadata length, metadata JSON,
 * image bytes. The server re-encodes it as type 1 for clients that did not announce
 * supports_preview_metadata. */
static void h_preview(ci_call *c, int format, const unsigned char *data, size_t len) {
    call_rec *r = rec(c);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "node_id", r->node_id);
    cJSON_AddStringToObject(m, "prompt_id", r->prompt_id);
    cJSON_AddStringToObject(m, "display_node_id", r->node_id);
    cJSON_AddNullToObject(m, "parent_node_id");
    cJSON_AddStringToObject(m, "real_node_id", r->node_id);
    cJSON_AddStringToObject(m, "image_type", format == 2 ? "image/png" : "image/jpeg");
    char *meta = json_print(m);
    cJSON_Delete(m);
    size_t ml = meta ? strlen(meta) : 0;
    unsigned char *frame = meta ? malloc(8 + ml + len) : NULL;
    if (frame) {
        uint32_t hdr[2] = { 4, (uint32_t)ml };
        for (int i = 0; i < 2; i++)
            for (int b = 0; b < 4; b++) frame[i * 4 + b] = (unsigned char)(hdr[i] >> (24 - 8 * b));
        memcpy(frame + 8, meta, ml);
        memcpy(frame + 8 + ml, data, len);
        ev_binary(r->client_id, frame, 8 + ml + len);
    }
    free(frame);
    free(meta);
}

static const char *h_dir(ci_dir which) {
    switch (which) {
    case CI_DIR_INPUT: return G.cfg.input_dir;
    case CI_DIR_OUTPUT: return G.cfg.output_dir;
    case CI_DIR_TEMP: return G.cfg.temp_dir;
    }
    return NULL;
}

static int h_disable_metadata(void) { return G.cfg.disable_metadata; }

static const cJSON *h_value_as_json(const ci_value *v) { return value_as_json(v); }

static int h_preview_method(ci_call *c) {
    static const char *names[] = { "none", "latent2rgb", "taesd", "auto" };
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(rec(c)->extra_data, "preview_method");
    for (int i = 0; cJSON_IsString(m) && i < 4; i++)
        if (!strcmp(m->valuestring, names[i])) return i;
    return G.cfg.preview_method;
}

static int h_preview_size(void) { return G.cfg.preview_size; }

static cJSON *h_model_files(const char *folder) {
    str_list l = {0};
    if (folders_list(folder, &l) < 0) return NULL;
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < l.n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(l.items[i]));
    str_list_free(&l);
    return a;
}

const ci_host graph_host = {
    .abi_version = CI_ABI_VERSION,
    .register_node = registry_add,
    .get_json = h_get_json,
    .get = h_get,
    .count = h_count,
    .get_at = h_get_at,
    .get_i64 = h_get_i64,
    .get_u64 = h_get_u64,
    .hidden = h_hidden,
    .node_id = h_node_id,
    .prompt_id = h_prompt_id,
    .value_object = value_object,
    .value_json = value_json,
    .value_payload = value_payload,
    .value_as_json = h_value_as_json,
    .value_ref = value_ref,
    .value_unref = value_unref,
    .set_output = h_set_output,
    .ui_add = h_ui_add,
    .raise_error = h_fail,
    .progress = h_progress,
    .interrupted = h_interrupted,
    .preview = h_preview,
    .dir = h_dir,
    .disable_metadata = h_disable_metadata,
    .preview_method = h_preview_method,
    .model_files = h_model_files,
    .model_path = folders_resolve,
    .on_free = graph_on_free,
    .preview_size = h_preview_size,
};
