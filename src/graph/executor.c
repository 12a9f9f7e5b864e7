/* executor.c -- runs one validated prompt (spec 6.2 - 6.5).
 *
 * 1. Every prompt node gets a cache key: SHA-256 over its signature, which is the
 *    node's own part (class, IS_CHANGED fingerprint, node id when not idempotent, its
 *    inputs sorted by name with links written as ("ANCESTOR", index, slot)) followed
 *    by the own part of each ancestor, ancestors numbered depth-first over sorted input
 *    names. The key describes the upstream sub-graph by content, not by ids.
 * 2. From the outputs back, every node whose outputs are not cached is needed; cached
 *    output nodes are scheduled too, to re-send their UI.
 * 3. Ready nodes run one at a time, output nodes first, then nodes closest to one
 *    (previews show early), then discovery order. A node without INPUT_IS_LIST runs
 *    once per list element (shorter lists repeat their last element).
 * 4. An error stops the prompt with execution_error; the interrupt flag, checked
 *    before each node and at each progress report, stops it with
 *    execution_interrupted. Finished nodes stay cached either way.
 */
#include "graph/graph.h"
#include "graph/cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include "base/log.h"

typedef struct xnode {
    const char *id;
    const cJSON *node;
    const reg_node *reg;
    char key[65];
    int keyed;              /* 0: never cached (IS_CHANGED said so, or a broken link) */
    int hit;                /* outputs came from the cache */
    int needed, done, order, dist;
    vlist *outs;            /* n_outputs slots */
    cJSON *ui;
} xnode;

typedef struct xrun {
    queue_item *it;
    xnode *nodes;
    int n;
    const char *sid;        /* client_id, or NULL */
    const cJSON *extra_pnginfo;
    exec_outcome *out;
    cJSON *executed;        /* ids, in finish order */
    cJSON *progress;        /* progress_state table: every node touched so far */
} xrun;

static xnode *find(xrun *r, const char *id) {
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->nodes[i].id, id)) return &r->nodes[i];
    return NULL;
}

/* A link is ["id", slot] with a numeric slot, as ComfyUI's is_link(). */
static xnode *link_source(xrun *r, const cJSON *v, int *slot) {
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2) return NULL;
    const cJSON *id = cJSON_GetArrayItem(v, 0), *s = cJSON_GetArrayItem(v, 1);
    if (!cJSON_IsString(id) || !cJSON_IsNumber(s)) return NULL;
    xnode *src = find(r, id->valuestring);
    if (src && slot) *slot = (int)s->valuedouble;
    return src;
}

static const cJSON *inputs_of(const xnode *x) {
    return cJSON_GetObjectItemCaseSensitive(x->node, "inputs");
}

/* ---- events ---- */

static void message(xrun *r, const char *type, cJSON *data, int broadcast) {
    cJSON_AddItemToObject(data, "timestamp", json_new_int(now_ms()));
    cJSON *pair = cJSON_CreateArray();
    cJSON_AddItemToArray(pair, cJSON_CreateString(type));
    cJSON_AddItemToArray(pair, cJSON_Duplicate(data, 1));
    cJSON_AddItemToArray(r->out->messages, pair);
    if (r->sid || broadcast) ev_send(r->sid, type, data);
    else cJSON_Delete(data);
}

static void to_client(xrun *r, const char *type, cJSON *data) {
    if (r->sid) ev_send(r->sid, type, data);
    else cJSON_Delete(data);
}

static cJSON *node_event(const xnode *x) {
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "node", x->id);
    cJSON_AddStringToObject(d, "display_node", x->id);
    return d;
}

static void send_executed(xrun *r, const xnode *x, const cJSON *ui) {
    cJSON *d = node_event(x);
    cJSON_AddItemToObject(d, "output", ui ? cJSON_Duplicate(ui, 1) : cJSON_CreateNull());
    cJSON_AddStringToObject(d, "prompt_id", r->it->id);
    to_client(r, "executed", d);
    if (!ui) return;
    cJSON_DeleteItemFromObjectCaseSensitive(r->out->outputs, x->id);
    cJSON_AddItemToObject(r->out->outputs, x->id, cJSON_Duplicate(ui, 1));
    cJSON_DeleteItemFromObjectCaseSensitive(r->out->meta, x->id);
    cJSON *m = cJSON_AddObjectToObject(r->out->meta, x->id);
    cJSON_AddStringToObject(m, "node_id", x->id);
    cJSON_AddStringToObject(m, "display_node", x->id);
    cJSON_AddNullToObject(m, "parent_node");
    cJSON_AddStringToObject(m, "real_node_id", x->id);
}

/* ---- cache keys ---- */

static void ancestry(xrun *r, xnode *x, xnode **list, int *n) {
    const cJSON *in = inputs_of(x);
    int count = cJSON_GetArraySize(in);
    const cJSON **sorted = calloc((size_t)count + 1, sizeof *sorted);
    if (!sorted) return;
    int k = 0;
    for (const cJSON *i = in ? in->child : NULL; i; i = i->next) sorted[k++] = i;
    for (int a = 1; a < k; a++)   /* insertion sort by name: inputs are few */
        for (int b = a; b > 0 && strcmp(sorted[b - 1]->string, sorted[b]->string) > 0; b--) {
            const cJSON *t = sorted[b]; sorted[b] = sorted[b - 1]; sorted[b - 1] = t;
        }
    for (int a = 0; a < k; a++) {
        xnode *src = link_source(r, sorted[a], NULL);
        if (!src) continue;
        int seen = 0;
        for (int j = 0; j < *n; j++) seen |= list[j] == src;
        if (seen) continue;
        list[(*n)++] = src;
        ancestry(r, src, list, n);
    }
    free(sorted);
}

static int own_signature(xrun *r, xnode *x, xnode **anc, int n_anc, sbuf *b) {
    sb_printf(b, "(%s|", x->reg->def->name);
    if (x->reg->def->fingerprint) {
        cJSON *consts = cJSON_CreateObject();
        for (const cJSON *i = inputs_of(x) ? inputs_of(x)->child : NULL; i; i = i->next)
            if (!cJSON_IsArray(i)) cJSON_AddItemReferenceToObject(consts, i->string, (cJSON *)i);
        call_rec c = { .base = { &graph_host }, .node = x->reg, .node_id = x->id,
                       .prompt_id = r->it->id, .consts = consts, .index = 0 };
        char *fp = x->reg->def->fingerprint(&c.base);
        cJSON_Delete(consts);
        free(c.err_type); free(c.err_msg);
        if (!fp) return -1;
        sb_printf(b, "fp=%s|", fp);
        free(fp);
    }
    int unique = x->reg->def->flags & CI_NOT_IDEMPOTENT;
    const cJSON *hidden = cJSON_GetObjectItemCaseSensitive(x->reg->inputs, "hidden");
    for (const cJSON *h = hidden ? hidden->child : NULL; h; h = h->next)
        unique |= cJSON_IsString(h) && !strcmp(h->valuestring, "UNIQUE_ID");
    if (unique) sb_printf(b, "id=%s|", x->id);
    /* inputs sorted by name */
    const cJSON *in = inputs_of(x);
    const char *last = "";
    for (;;) {
        const cJSON *next = NULL;
        for (const cJSON *i = in ? in->child : NULL; i; i = i->next)
            if (strcmp(i->string, last) > 0 && (!next || strcmp(i->string, next->string) < 0)) next = i;
        if (!next) break;
        last = next->string;
        int slot = 0;
        xnode *src = link_source(r, next, &slot);
        if (cJSON_IsArray(next) && !src) return -1;     /* broken link: never cache */
        if (src) {
            int idx = -1;
            for (int j = 0; j < n_anc; j++) if (anc[j] == src) idx = j;
            sb_printf(b, "%s=ANCESTOR:%d:%d|", next->string, idx, slot);
        } else {
            char *t = json_print(next);
            sb_printf(b, "%s=%s|", next->string, t ? t : "");
            free(t);
        }
    }
    sb_puts(b, ")");
    return 0;
}

static void compute_key(xrun *r, xnode *x) {
    xnode **anc = calloc((size_t)r->n + 1, sizeof *anc);
    int n_anc = 0, ok = anc != NULL;
    sbuf b = {0};
    if (ok) ancestry(r, x, anc, &n_anc);
    if (ok) ok = own_signature(r, x, anc, n_anc, &b) == 0;
    for (int j = 0; ok && j < n_anc; j++) ok = own_signature(r, anc[j], anc, n_anc, &b) == 0;
    char *sig = sb_take(&b);
    free(anc);
    x->keyed = ok && sig;
    if (x->keyed) {
        unsigned char h[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *)sig, strlen(sig), h);
        for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) sprintf(x->key + 2 * i, "%02x", h[i]);
    }
    free(sig);
}

static void take_from_cache(xnode *x) {
    const cache_hit *h = x->keyed ? cache_get(x->key) : NULL;
    if (!h || h->n_outs != x->reg->def->n_outputs) return;
    for (int s = 0; s < h->n_outs; s++)
        for (int i = 0; i < h->outs[s].n; i++) vlist_push(&x->outs[s], value_ref(h->outs[s].v[i]));
    x->ui = h->ui ? cJSON_Duplicate(h->ui, 1) : NULL;
    x->hit = 1;
}

/* ---- what runs ---- */

static int is_output(const xnode *x) { return x->reg->def->flags & CI_OUTPUT_NODE; }

static void need(xrun *r, xnode *x, int *order) {
    if (x->needed) return;
    x->needed = 1;
    x->order = (*order)++;
    for (const cJSON *i = inputs_of(x) ? inputs_of(x)->child : NULL; i; i = i->next) {
        xnode *src = link_source(r, i, NULL);
        if (src && !src->hit) need(r, src, order);
    }
}

static void distances(xrun *r) {
    for (int i = 0; i < r->n; i++) r->nodes[i].dist = is_output(&r->nodes[i]) ? 0 : 3;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < r->n; i++) {
            xnode *x = &r->nodes[i];
            for (const cJSON *in = inputs_of(x) ? inputs_of(x)->child : NULL; in; in = in->next) {
                xnode *src = link_source(r, in, NULL);
                if (src && src->dist > x->dist + 1) src->dist = x->dist + 1;
            }
        }
}

static int ready(xrun *r, const xnode *x) {
    for (const cJSON *i = inputs_of(x) ? inputs_of(x)->child : NULL; i; i = i->next) {
        xnode *src = link_source(r, i, NULL);
        if (src && !src->hit && !src->done) return 0;
    }
    return 1;
}

static xnode *pick(xrun *r) {
    xnode *best = NULL;
    for (int i = 0; i < r->n; i++) {
        xnode *x = &r->nodes[i];
        if (!x->needed || x->done || !ready(r, x)) continue;
        if (!best || x->dist < best->dist || (x->dist == best->dist && x->order < best->order)) best = x;
    }
    return best;
}

/* ---- one node ---- */

typedef struct inputs {
    const char **names;
    vlist *lists;        /* borrowed lists of the sources' slots */
    int n;
    cJSON *consts;       /* references to the prompt's constants */
} inputs;

static void gather(xrun *r, xnode *x, inputs *in) {
    const cJSON *all = inputs_of(x);
    int cap = cJSON_GetArraySize(all);
    in->names = calloc((size_t)cap + 1, sizeof *in->names);
    in->lists = calloc((size_t)cap + 1, sizeof *in->lists);
    in->consts = cJSON_CreateObject();
    in->n = 0;
    for (const cJSON *i = all ? all->child : NULL; i; i = i->next) {
        int slot = 0;
        xnode *src = link_source(r, i, &slot);
        if (src) {
            if (slot < 0) slot += src->reg->def->n_outputs;   /* Python indexing, as validation */
            if (slot < 0 || slot >= src->reg->def->n_outputs) continue;
            in->names[in->n] = i->string;
            in->lists[in->n++] = src->outs[slot];
        } else {
            cJSON_AddItemReferenceToObject(in->consts, i->string, (cJSON *)i);
        }
    }
}

static void inputs_free(inputs *in) {
    free(in->names); free(in->lists);
    cJSON_Delete(in->consts);
}

static cJSON *current_inputs(const inputs *in) {
    cJSON *o = cJSON_CreateObject();
    for (const cJSON *c = in->consts->child; c; c = c->next) {
        cJSON *l = cJSON_AddArrayToObject(o, c->string);
        cJSON_AddItemToArray(l, cJSON_Duplicate(c, 1));
    }
    for (int i = 0; i < in->n; i++) {
        cJSON *l = cJSON_AddArrayToObject(o, in->names[i]);
        for (int k = 0; k < in->lists[i].n; k++) {
            const ci_value *v = in->lists[i].v[k];
            if (v->json) { cJSON_AddItemToArray(l, cJSON_Duplicate(v->json, 1)); continue; }
            char s[160];
            snprintf(s, sizeof s, "<%s object>", v->type);
            cJSON_AddItemToArray(l, cJSON_CreateString(s));
        }
    }
    return o;
}

static void merge_ui(cJSON **dst, cJSON *ui) {
    if (!ui) return;
    if (!*dst) { *dst = ui; return; }
    for (cJSON *k = ui->child; k; k = k->next) {
        cJSON *arr = cJSON_GetObjectItemCaseSensitive(*dst, k->string);
        if (!arr) { cJSON_AddItemToObject(*dst, k->string, cJSON_Duplicate(k, 1)); continue; }
        for (cJSON *e = k->child; e; e = e->next) cJSON_AddItemToArray(arr, cJSON_Duplicate(e, 1));
    }
    cJSON_Delete(ui);
}

enum { RUN_OK, RUN_ERROR, RUN_INTERRUPTED };

static int call_node(xrun *r, xnode *x, inputs *in, char **etype, char **emsg) {
    const ci_node_def *def = x->reg->def;
    int n_calls = 1;
    if (!(def->flags & CI_INPUT_IS_LIST))
        for (int i = 0; i < in->n; i++) if (in->lists[i].n > n_calls) n_calls = in->lists[i].n;
    for (int k = 0; k < n_calls; k++) {
        vlist *outs = calloc((size_t)def->n_outputs + 1, sizeof *outs);
        call_rec c = { .base = { &graph_host }, .node = x->reg, .node_id = x->id,
                       .prompt_id = r->it->id, .client_id = r->sid, .consts = in->consts,
                       .in_names = in->names, .in_lists = in->lists, .n_in = in->n,
                       .index = def->flags & CI_INPUT_IS_LIST ? -1 : k,
                       .prompt = r->it->prompt, .extra_pnginfo = r->extra_pnginfo, .outs = outs,
                       .progress_nodes = r->progress, .extra_data = r->it->extra_data };
        int rc = outs ? def->run(&c.base) : -1;
        if (!outs) { c.err_type = strdup("MemoryError"); c.err_msg = strdup("out of memory"); }
        int interrupted = c.interrupted || (rc != 0 && atomic_load(&G.interrupt));
        if (rc == 0 && !interrupted) {
            for (int s = 0; s < def->n_outputs; s++) {
                if (def->outputs[s].is_list) {
                    for (int i = 0; i < outs[s].n; i++) vlist_push(&x->outs[s], value_ref(outs[s].v[i]));
                } else {
                    vlist_push(&x->outs[s], outs[s].n ? value_ref(outs[s].v[0]) : value_json(cJSON_CreateNull()));
                }
            }
            merge_ui(&x->ui, c.ui);
            c.ui = NULL;
        }
        for (int s = 0; s < def->n_outputs && outs; s++) vlist_clear(&outs[s]);
        free(outs);
        cJSON_Delete(c.ui);
        if (rc != 0 || interrupted) {
            *etype = c.err_type ? c.err_type : strdup("RuntimeError");
            *emsg = c.err_msg ? c.err_msg : strdup("node failed");
            return interrupted ? RUN_INTERRUPTED : RUN_ERROR;
        }
        free(c.err_type); free(c.err_msg);
    }
    return RUN_OK;
}

static void report_stop(xrun *r, xnode *x, int how, const char *etype, const char *emsg, inputs *in) {
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "prompt_id", r->it->id);
    cJSON_AddStringToObject(d, "node_id", x->id);
    cJSON_AddStringToObject(d, "node_type", x->reg->def->name);
    cJSON_AddItemToObject(d, "executed", cJSON_Duplicate(r->executed, 1));
    if (how == RUN_INTERRUPTED) { message(r, "execution_interrupted", d, 1); return; }
    sbuf m = {0};
    sb_printf(&m, "%s\n", emsg);
    char *ms = sb_take(&m);
    cJSON_AddStringToObject(d, "exception_message", ms ? ms : "");
    free(ms);
    cJSON_AddStringToObject(d, "exception_type", etype);
    cJSON_AddArrayToObject(d, "traceback");
    cJSON_AddItemToObject(d, "current_inputs", in ? current_inputs(in) : cJSON_CreateObject());
    cJSON *cur = cJSON_AddArrayToObject(d, "current_outputs");
    for (int i = 0; i < r->n; i++)
        if (r->nodes[i].keyed && cache_get(r->nodes[i].key))
            cJSON_AddItemToArray(cur, cJSON_CreateString(r->nodes[i].id));
    message(r, "execution_error", d, 0);
}

static int run_node(xrun *r, xnode *x) {
    if (x->hit) {   /* a cached output node: re-send its UI */
        send_executed(r, x, x->ui);
        ev_progress_state(r->progress, r->sid, r->it->id, x->id, 1.0, 1.0, "finished");
        x->done = 1;
        return RUN_OK;
    }
    if (atomic_load(&G.interrupt)) { report_stop(r, x, RUN_INTERRUPTED, NULL, NULL, NULL); return RUN_INTERRUPTED; }
    ev_progress_state(r->progress, r->sid, r->it->id, x->id, 0.0, 1.0, "running");
    pthread_mutex_lock(&G.lock);
    snprintf(G.executing, sizeof G.executing, "%s", x->id);
    pthread_mutex_unlock(&G.lock);
    cJSON *d = node_event(x);
    cJSON_AddStringToObject(d, "prompt_id", r->it->id);
    to_client(r, "executing", d);
    inputs in;
    gather(r, x, &in);
    char *etype = NULL, *emsg = NULL;
    int rc = call_node(r, x, &in, &etype, &emsg);
    if (rc != RUN_OK) {
        for (int s = 0; s < x->reg->def->n_outputs; s++) vlist_clear(&x->outs[s]);
        log_warn("graph: prompt %s node %s (%s): %s: %s", r->it->id, x->id, x->reg->def->name,
                 etype, emsg);
        report_stop(r, x, rc, etype, emsg, &in);
    } else {
        x->done = 1;
        cJSON_AddItemToArray(r->executed, cJSON_CreateString(x->id));
        if (x->keyed) cache_put(x->key, x->outs, x->reg->def->n_outputs, x->ui);
        if (x->ui) send_executed(r, x, x->ui);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r->progress, x->id), "max");
        double max = st ? st->valuedouble : 1.0;
        ev_progress_state(r->progress, r->sid, r->it->id, x->id, max, max, "finished");
    }
    free(etype); free(emsg);
    inputs_free(&in);
    pthread_mutex_lock(&G.lock);
    G.executing[0] = 0;
    pthread_mutex_unlock(&G.lock);
    return rc;
}

/* ---- the prompt ---- */

static void start(xrun *r) {
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "prompt_id", r->it->id);
    message(r, "execution_start", d, 0);
    cJSON *cached = cJSON_CreateArray();
    for (int i = 0; i < r->n; i++) {
        compute_key(r, &r->nodes[i]);
        take_from_cache(&r->nodes[i]);
        if (r->nodes[i].hit) cJSON_AddItemToArray(cached, cJSON_CreateString(r->nodes[i].id));
    }
    d = cJSON_CreateObject();
    cJSON_AddItemToObject(d, "nodes", cached);
    cJSON_AddStringToObject(d, "prompt_id", r->it->id);
    message(r, "execution_cached", d, 0);
}

void executor_run(queue_item *it, exec_outcome *out) {
    out->outputs = cJSON_CreateObject();
    out->meta = cJSON_CreateObject();
    out->messages = cJSON_CreateArray();
    out->status = 0;
    const cJSON *client = cJSON_GetObjectItemCaseSensitive(it->extra_data, "client_id");
    xrun r = { .it = it, .out = out, .executed = cJSON_CreateArray(), .progress = cJSON_CreateObject(),
               .sid = cJSON_IsString(client) ? client->valuestring : NULL,
               .extra_pnginfo = cJSON_GetObjectItemCaseSensitive(it->extra_data, "extra_pnginfo") };
    r.n = cJSON_GetArraySize(it->prompt);
    r.nodes = calloc((size_t)r.n + 1, sizeof *r.nodes);
    int k = 0;
    for (const cJSON *n = it->prompt->child; n && r.nodes; n = n->next) {
        const reg_node *reg = registry_find(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(n, "class_type")));
        if (!reg) continue;   /* validated prompts name known classes only */
        xnode *x = &r.nodes[k++];
        x->id = n->string; x->node = n; x->reg = reg;
        x->outs = calloc((size_t)reg->def->n_outputs + 1, sizeof *x->outs);
    }
    r.n = k;

    start(&r);
    int order = 0;
    for (const cJSON *o = it->outputs ? it->outputs->child : NULL; o; o = o->next) {
        xnode *x = find(&r, o->valuestring);
        if (x) need(&r, x, &order);
    }
    distances(&r);
    int rc = RUN_OK;
    for (xnode *x; rc == RUN_OK && (x = pick(&r));) rc = run_node(&r, x);
    if (rc == RUN_OK) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "prompt_id", it->id);
        message(&r, "execution_success", d, 0);
    }
    out->status = rc == RUN_OK ? 0 : rc == RUN_ERROR ? 1 : 2;

    for (int i = 0; i < r.n; i++) {
        for (int s = 0; s < r.nodes[i].reg->def->n_outputs; s++) vlist_clear(&r.nodes[i].outs[s]);
        free(r.nodes[i].outs);
        cJSON_Delete(r.nodes[i].ui);
    }
    free(r.nodes);
    cJSON_Delete(r.executed);
    cJSON_Delete(r.progress);
}
