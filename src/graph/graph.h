/* graph/graph.h -- what the files of the graph layer share among themselves.
 *
 * registry.c  node types and /object_info
 * value.c     ci_value and the host table nodes call into (call records: call.c)
 * validate.c  ComfyUI's prompt validation and normalisation
 * queue.c     priority queue, /prompt, /queue, /interrupt, /free, status messages
 * worker.c    the worker thread: takes items, runs them, writes history
 * executor.c  one prompt: order, caching, lists, events
 * cache.c     outputs cached across prompts, keyed by input signatures
 * history.c   bounded history and /history
 * jobs.c      the /api/jobs view of queue and history
 * events.c    the event sink and message shapes
 */
#ifndef CI_GRAPH_INTERNAL_H
#define CI_GRAPH_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include "comfyui_ipex/node.h"
#include "graph/api.h"
#include "base/json.h"

/* ---- registry ---- */
typedef struct reg_node {
    const ci_node_def *def;
    cJSON *inputs;          /* parsed INPUT_TYPES (exact integers) */
} reg_node;

int registry_add(const ci_node_def *def);
const reg_node *registry_find(const char *name);
void registry_clear(void);
/* The input spec array ([type] or [type, opts]) of a required/optional input, options
 * of query-time combos filled in; caller deletes. *optional set when in "optional". */
cJSON *registry_input_spec(const reg_node *n, const char *input, int *optional);
/* Names of required then optional inputs, in declared order (cJSON array of strings). */
cJSON *registry_input_names(const reg_node *n);
/* The hidden magic string of an input ("PROMPT", ...) or NULL. */
const char *registry_hidden(const reg_node *n, const char *input);
cJSON *registry_object_info(const reg_node *n);
int registry_takes_validate(const reg_node *n, const char *input);

/* ---- values and calls ---- */
struct ci_value {
    atomic_int refs;
    char *type;                 /* object type name, NULL for JSON values */
    void *payload;
    void (*destroy)(void *);
    cJSON *json;                /* JSON values */
};
ci_value *value_json(cJSON *json);
ci_value *value_ref(const ci_value *v);
void value_unref(ci_value *v);
const char *value_type(const ci_value *v);    /* object type, or INT/FLOAT/STRING/BOOLEAN/... */

typedef struct vlist { ci_value **v; int n, cap; } vlist;   /* one output slot */
int vlist_push(vlist *l, ci_value *v);                       /* takes ownership */
void vlist_clear(vlist *l);

/* A call record: the node's inputs for one invocation and what it produced. */
typedef struct call_rec {
    ci_call base;
    const reg_node *node;
    const char *node_id, *prompt_id, *client_id;
    cJSON *consts;              /* name -> normalised constant (borrowed) */
    const char **in_names;      /* linked inputs: name -> value list */
    vlist *in_lists;
    int n_in;
    int index;                  /* list index for per-element calls, -1 for whole lists */
    const cJSON *prompt, *extra_pnginfo;
    const cJSON *extra_data;    /* the prompt's extra_data (preview_method) */
    vlist *outs;                /* n_outputs slots */
    cJSON *ui;                  /* object key -> array */
    char *err_type, *err_msg;
    int interrupted;
    cJSON *progress_nodes;      /* the run's progress_state table */
} call_rec;
extern const ci_host graph_host;

/* ---- validation ---- */
typedef struct validation {
    int ok;                 /* 1: at least one output is good */
    cJSON *error;           /* error object (when !ok) */
    cJSON *node_errors;     /* object */
    cJSON *outputs;         /* array of good output ids */
} validation;
void validate_prompt(cJSON *prompt, const cJSON *partial_targets, validation *out);
void validation_free(validation *v);
cJSON *error_object(const char *type, const char *message, const char *details, cJSON *extra);

/* ---- queue and worker state ---- */
typedef struct queue_item {
    double number;
    int number_is_float;
    char id[40];
    cJSON *prompt, *extra_data, *outputs, *sensitive;
} queue_item;
cJSON *queue_item_json(const queue_item *it);   /* the 5-element public form */
void queue_item_free(queue_item *it);

typedef struct graph_state {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_mutex_t status_order;   /* a queued prompt's status goes out before its start's */
    queue_item **pending; int n_pending, cap_pending;
    queue_item *running;
    int64_t counter;
    int stop;
    pthread_t thread; int started;
    atomic_int interrupt;
    int free_models, free_memory;
    char executing[256];        /* node running now ("" when none) */
    graph_config cfg;
} graph_state;
extern graph_state G;

int queue_remaining_locked(void);
int graph_on_free(void (*fn)(int free_memory));   /* host->on_free */
queue_item *queue_pop_locked(void);
int queue_cancel_pending_locked(const char *id);

/* ---- executor and cache ---- */
typedef struct exec_outcome {
    cJSON *outputs;         /* node id -> ui */
    cJSON *meta;
    cJSON *messages;        /* [[event, data], ...] */
    int status;             /* 0 success, 1 error, 2 interrupted */
} exec_outcome;
void executor_run(queue_item *it, exec_outcome *out);
void cache_clear(void);
void cache_trim(void);

/* ---- history ---- */
void history_add(queue_item *it, exec_outcome *out);
void history_clear_all(void);
/* borrow under G.lock */
int history_count_locked(void);
const cJSON *history_entry_at_locked(int i, const char **id);

/* ---- events ---- */
void ev_send(const char *sid, const char *type, cJSON *data);   /* takes data */
void ev_binary(const char *sid, const unsigned char *bin, size_t len);
void ev_status_broadcast(void);
/* Updates one node in a run's progress_state table and sends the whole table. */
void ev_progress_state(cJSON *nodes, const char *sid, const char *prompt_id, const char *node_id,
                       double value, double max, const char *state);
int64_t now_ms(void);

/* ---- small helpers ---- */
graph_reply reply_json(int status, cJSON *body);     /* takes body */
graph_reply reply_empty(int status);
int uuid_is_canonical(const char *s);
void uuid4(char out[37]);

#endif
