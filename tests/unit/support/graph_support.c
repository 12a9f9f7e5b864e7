/* graph_support.c -- see graph_support.h. */
#include "graph_support.h"

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/packs.h"
#include "backend/backend.h"
#include "comfyui_ipex/node.h"

extern const ci_host graph_host;

char gs_root[256];
int gs_test_runs;
static cJSON *spec;
static int ready;

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond = PTHREAD_COND_INITIALIZER;
static char **events;
static size_t n_events, cap_events;

/* JSON messages are kept as they are; a binary preview frame becomes a pseudo message
 * {"type": "binary", "data": <its metadata>, "format": <frame type>}. */
static void sink(void *ud, const char *sid, const char *json, const unsigned char *bin, size_t len) {
    (void)ud; (void)sid;
    char *frame_text = NULL;
    if (!json && bin && len >= 8) {
        unsigned type = (unsigned)bin[0] << 24 | (unsigned)bin[1] << 16 | (unsigned)bin[2] << 8 | bin[3];
        unsigned ml = (unsigned)bin[4] << 24 | (unsigned)bin[5] << 16 | (unsigned)bin[6] << 8 | bin[7];
        if (ml > len - 8) ml = 0;
        sbuf b = {0};
        sb_printf(&b, "{\"type\": \"binary\", \"format\": %u, \"data\": %.*s}", type, (int)ml, (const char *)bin + 8);
        json = frame_text = sb_take(&b);
    }
    if (!json) return;
    pthread_mutex_lock(&ev_lock);
    if (n_events == cap_events) {
        cap_events = cap_events ? cap_events * 2 : 256;
        events = realloc(events, cap_events * sizeof *events);
    }
    events[n_events++] = strdup(json);
    pthread_cond_broadcast(&ev_cond);
    pthread_mutex_unlock(&ev_lock);
    free(frame_text);
}

char *gs_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    if (buf) buf[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return buf;
}

/* ---- stand-ins and test nodes ---- */

static int stand_in_run(ci_call *c) { return ci_fail(c, "NotImplementedError", "stand-in node"); }

/* TestCounter: INT in, INT out (value + 1), counts its runs; fails when value == 13;
 * reports progress 1..steps, checking the interrupt between steps. */
static int counter_run(ci_call *c) {
    gs_test_runs++;
    int64_t v = ci_get_int(c, "value"), steps = ci_get_int(c, "steps");
    if (v == 13) return ci_fail(c, "ValueError", "unlucky value %lld", (long long)v);
    static const unsigned char jpeg[] = { 0xff, 0xd8, 0xff, 0xd9 };
    for (int64_t i = 1; i <= steps; i++) {
        if (i == 1) c->host->preview(c, 1, jpeg, sizeof jpeg);
        if (c->host->progress(c, i, steps)) return ci_fail(c, "InterruptProcessingException", "interrupted");
        usleep(20000);
    }
    return ci_set_int(c, 0, v + 1);
}

/* TestSink: an output node taking an INT (linked or constant) and a seed; its UI is
 * {"text": ["<value>"]}. */
static int sink_run(ci_call *c) {
    char buf[64];
    snprintf(buf, sizeof buf, "%lld/%llu", (long long)ci_get_int(c, "value"), (unsigned long long)ci_get_u64(c, "seed"));
    return c->host->ui_add(c, "text", cJSON_CreateString(buf));
}

/* TestList: OUTPUT_IS_LIST, emits value, value+1, value+2. */
static int list_run(ci_call *c) {
    int64_t v = ci_get_int(c, "value");
    for (int i = 0; i < 3; i++) c->host->set_output(c, 0, c->host->value_json(json_new_int(v + i)));
    return 0;
}

/* TestGather: INPUT_IS_LIST output node; UI {"count": [n]}. */
static int gather_run(ci_call *c) {
    int n = c->host->count(c, "value");
    return c->host->ui_add(c, "count", json_new_int(n));
}

static const ci_output_def int_out[] = { { "INT", NULL, 0, NULL } };
static const ci_output_def int_list_out[] = { { "INT", NULL, 1, NULL } };
static const ci_node_def test_nodes[] = {
    { .abi_version = CI_ABI_VERSION, .name = "TestCounter", .category = "test",
      .inputs = "{\"required\": {\"value\": [\"INT\", {\"default\": 0, \"min\": -100, \"max\": 100}], \"steps\": [\"INT\", {\"default\": 0, \"min\": 0, \"max\": 1000}]}}",
      .outputs = int_out, .n_outputs = 1, .run = counter_run },
    { .abi_version = CI_ABI_VERSION, .name = "TestSink", .category = "test",
      .inputs = "{\"required\": {\"value\": [\"INT\", {\"default\": 0}]}, \"optional\": {\"seed\": [\"INT\", {\"default\": 0, \"min\": 0, \"max\": 18446744073709551615}]}}",
      .n_outputs = 0, .flags = CI_OUTPUT_NODE, .run = sink_run },
    { .abi_version = CI_ABI_VERSION, .name = "TestList", .category = "test",
      .inputs = "{\"required\": {\"value\": [\"INT\", {\"default\": 0}]}}",
      .outputs = int_list_out, .n_outputs = 1, .run = list_run },
    { .abi_version = CI_ABI_VERSION, .name = "TestGather", .category = "test",
      .inputs = "{\"required\": {\"value\": [\"INT\", {\"default\": 0}]}}",
      .n_outputs = 0, .flags = CI_OUTPUT_NODE | CI_INPUT_IS_LIST, .run = gather_run },
};

static const char *str_or_null(const cJSON *n, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(n, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A node declared entirely from its /object_info entry, so that the registry's
 * serialisation of every core node (V1 and V3) can be compared with ComfyUI's. */
static void register_stand_ins(void) {
    for (cJSON *n = spec->child; n; n = n->next) {
        ci_node_def *d = calloc(1, sizeof *d);
        d->abi_version = CI_ABI_VERSION;
        d->name = n->string;
        d->display_name = str_or_null(n, "display_name");
        d->description = str_or_null(n, "description");
        d->category = str_or_null(n, "category");
        d->python_module = str_or_null(n, "python_module");
        d->essentials_category = str_or_null(n, "essentials_category");
        d->inputs = json_print(cJSON_GetObjectItem(n, "input"));
        const cJSON *out = cJSON_GetObjectItem(n, "output"), *names = cJSON_GetObjectItem(n, "output_name");
        const cJSON *lists = cJSON_GetObjectItem(n, "output_is_list"), *tips = cJSON_GetObjectItem(n, "output_tooltips");
        d->n_outputs = cJSON_GetArraySize(out);
        ci_output_def *o = calloc((size_t)d->n_outputs + 1, sizeof *o);
        for (int i = 0; i < d->n_outputs; i++) {
            o[i].type = cJSON_GetArrayItem(out, i)->valuestring;
            o[i].name = cJSON_GetArrayItem(names, i)->valuestring;
            o[i].is_list = cJSON_IsTrue(cJSON_GetArrayItem(lists, i));
            const cJSON *t = cJSON_GetArrayItem(tips, i);
            o[i].tooltip = cJSON_IsString(t) ? t->valuestring : NULL;
        }
        d->outputs = o;
        if (cJSON_GetArraySize(tips) > d->n_outputs) {   /* an inherited, longer list */
            const char **tt = calloc((size_t)cJSON_GetArraySize(tips) + 1, sizeof *tt);
            int j = 0;
            for (const cJSON *t = tips->child; t; t = t->next) tt[j++] = t->valuestring;
            d->output_tooltips = tt;
        }
        const cJSON *aliases = cJSON_GetObjectItem(n, "search_aliases");
        const char **al = calloc((size_t)cJSON_GetArraySize(aliases) + 1, sizeof *al);
        int k = 0;
        for (const cJSON *a = cJSON_IsArray(aliases) ? aliases->child : NULL; a; a = a->next) al[k++] = a->valuestring;
        d->search_aliases = al;
        d->flags = (cJSON_IsTrue(cJSON_GetObjectItem(n, "output_node")) ? CI_OUTPUT_NODE : 0) |
                   (cJSON_IsTrue(cJSON_GetObjectItem(n, "deprecated")) ? CI_DEPRECATED : 0) |
                   (cJSON_IsTrue(cJSON_GetObjectItem(n, "is_input_list")) ? CI_INPUT_IS_LIST : 0) |
                   (cJSON_GetObjectItem(n, "output_matchtypes") ? CI_SCHEMA_V3 : 0);
        d->run = stand_in_run;
        if (graph_host.register_node(d) != 0) {   /* the core pack has it already */
            free((char *)d->inputs); free(o); free(al); free((void *)d->output_tooltips); free(d);
        }
    }
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static void remove_dirs(void) { nftw(gs_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* A fresh folder per process (mkdtemp, not the pid: a recycled pid found an earlier run's
 * input files there and changed LoadImage's combo), removed at exit. */
static void make_dirs(void) {
    char p[300];
    snprintf(gs_root, sizeof gs_root, "/tmp/ci-graph-test-XXXXXX");
    if (!mkdtemp(gs_root)) abort();
    atexit(remove_dirs);
    const char *sub[] = { "input", "output", "temp" };
    for (int i = 0; i < 3; i++) { snprintf(p, sizeof p, "%s/%s", gs_root, sub[i]); mkdir(p, 0755); }
}

static void start(int max_history, int cache_mode, int cache_lru) {
    char in[300], out[300], tmp[300];
    snprintf(in, sizeof in, "%s/input", gs_root);
    snprintf(out, sizeof out, "%s/output", gs_root);
    snprintf(tmp, sizeof tmp, "%s/temp", gs_root);
    graph_config cfg = { .output_dir = out, .input_dir = in, .temp_dir = tmp, .max_history = max_history,
                         .cache_mode = cache_mode, .cache_lru = cache_lru };
    graph_start(&cfg);
}

void gs_setup(void) {
    if (ready) return;
    ready = 1;
    const char *shared = getenv("SHARED");
    char path[512];
    snprintf(path, sizeof path, "%s/spec/comfyui-core-nodes.json", shared ? shared : "../shared");
    size_t len;
    char *text = gs_read_file(path, &len);
    if (!text) { fprintf(stderr, "cannot read %s\n", path); exit(1); }
    spec = json_parse(text, len);
    free(text);
    char err[256];
    backend_config bc = { .accel = ACCEL_CPU, .opt = OPT_O1, .prec = PREC_FP32, .threads = 1 };
    if (backend_init(&bc, err, sizeof err) != 0) { fprintf(stderr, "backend: %s\n", err); exit(1); }
    app_set_nodes_dir("");
    if (app_register_packs() != 0) exit(1);
    register_stand_ins();
    for (size_t i = 0; i < sizeof test_nodes / sizeof *test_nodes; i++) graph_host.register_node(&test_nodes[i]);
    graph_set_event_sink(sink, NULL);
    make_dirs();
    start(10000, GRAPH_CACHE_DEFAULT, 0);
}

void gs_restart(int max_history, int cache_mode, int cache_lru) {
    graph_stop();
    start(max_history, cache_mode, cache_lru);
}

cJSON *gs_spec_nodes(void) { return spec; }

cJSON *gs_post(const char *body_text, int *status) {
    graph_reply r = graph_post_prompt(body_text, strlen(body_text));
    *status = r.status;
    cJSON *b = r.body ? json_parse(r.body, strlen(r.body)) : NULL;
    free(r.body);
    return b;
}

cJSON *gs_wait_event(const char *type, const char *pid, size_t *cursor) {
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    pthread_mutex_lock(&ev_lock);
    for (;;) {
        for (; *cursor < n_events; (*cursor)++) {
            cJSON *m = json_parse(events[*cursor], strlen(events[*cursor]));
            const cJSON *t = cJSON_GetObjectItem(m, "type");
            cJSON *d = cJSON_GetObjectItem(m, "data");
            const cJSON *p = cJSON_GetObjectItem(d, "prompt_id");
            if (cJSON_IsString(t) && !strcmp(t->valuestring, type) &&
                (!pid || (cJSON_IsString(p) && !strcmp(p->valuestring, pid)))) {
                cJSON *out = cJSON_DetachItemViaPointer(m, d);
                cJSON_Delete(m);
                (*cursor)++;
                pthread_mutex_unlock(&ev_lock);
                return out;
            }
            cJSON_Delete(m);
        }
        if (pthread_cond_timedwait(&ev_cond, &ev_lock, &dl) != 0) break;
    }
    pthread_mutex_unlock(&ev_lock);
    return NULL;
}

void gs_wait_done(const char *pid, size_t *cursor) {
    for (;;) {
        cJSON *d = gs_wait_event("executing", pid, cursor);
        int done = !d || cJSON_IsNull(cJSON_GetObjectItem(d, "node"));
        cJSON_Delete(d);
        if (done) return;
    }
}

size_t gs_event_count(void) {
    pthread_mutex_lock(&ev_lock);
    size_t n = n_events;
    pthread_mutex_unlock(&ev_lock);
    return n;
}

const char *gs_event_text(size_t i) {
    pthread_mutex_lock(&ev_lock);
    const char *t = i < n_events ? events[i] : NULL;
    pthread_mutex_unlock(&ev_lock);
    return t;
}

void gs_events_clear(void) {
    pthread_mutex_lock(&ev_lock);
    for (size_t i = 0; i < n_events; i++) free(events[i]);
    n_events = 0;
    pthread_mutex_unlock(&ev_lock);
}
