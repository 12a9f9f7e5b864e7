/* graph/api.h -- what the server layer asks of the graph layer.
 *
 * The server parses HTTP and WebSocket; the graph owns the node registry, validation,
 * the queue, the worker thread, the executor and history. They meet here: request bodies
 * go down as raw bytes (the graph parses them, keeping 64-bit integers exact) and answers
 * come back as an HTTP status plus a JSON body in ComfyUI's exact shape. Events go up
 * through one sink the server installs; the graph never knows about sockets.
 *
 * Contract between graph/ and server/: extend, do not change meanings.
 */
#ifndef CI_GRAPH_API_H
#define CI_GRAPH_API_H

#include <stddef.h>

typedef struct graph_reply {
    int status;          /* HTTP status */
    char *body;          /* malloc'd JSON text (or NULL for an empty body); caller frees */
} graph_reply;

typedef struct graph_config {
    const char *output_dir;
    const char *input_dir;
    const char *temp_dir;
    int max_history;        /* bounded history (ComfyUI keeps 10000) */
    int disable_metadata;
    int preview_method;     /* 0 none, 1 latent2rgb, 2 taesd, 3 auto */
    int preview_size;       /* largest preview edge (--preview-size); 0: no limit */
    /* Output cache (ComfyUI's flags): GRAPH_CACHE_DEFAULT keeps the 256 most recently
     * used entries (our stand-in for --cache-ram); --cache-lru N keeps N; --cache-classic
     * keeps only the current prompt's; --cache-none keeps nothing. */
    int cache_mode;         /* graph_cache_mode */
    int cache_lru;          /* N for GRAPH_CACHE_LRU */
} graph_config;

enum graph_cache_mode { GRAPH_CACHE_DEFAULT, GRAPH_CACHE_LRU, GRAPH_CACHE_CLASSIC, GRAPH_CACHE_NONE };

/* Events for the WebSocket hub. sid is the client id to send to, or NULL for everyone.
 * Either json (a complete {"type":..,"data":..} message) or a binary frame (bin, len). */
typedef void (*graph_event_fn)(void *ud, const char *sid, const char *json,
                               const unsigned char *bin, size_t len);

int  graph_start(const graph_config *cfg);   /* starts the worker thread */
void graph_stop(void);                       /* interrupts, joins the worker */
void graph_set_event_sink(graph_event_fn fn, void *ud);

/* The JSON status message {"type":"status","data":{"status":{"exec_info":{...}}}, "sid"?}
 * sent on connect (sid given) and on queue changes. Caller frees. */
char *graph_status_message(const char *sid);
/* {"type": "executing", "data": {"node": "<id>"}} when sid is the client of the prompt
 * running now and a node is executing (sent after status on connect), else NULL.
 * Caller frees. */
char *graph_executing_message(const char *sid);

graph_reply graph_get_prompt(void);                                  /* GET  /prompt */
graph_reply graph_post_prompt(const char *body, size_t len);         /* POST /prompt */
graph_reply graph_get_queue(void);                                   /* GET  /queue */
graph_reply graph_post_queue(const char *body, size_t len);          /* POST /queue */
graph_reply graph_post_interrupt(const char *body, size_t len);      /* POST /interrupt */
graph_reply graph_post_free(const char *body, size_t len);           /* POST /free */
graph_reply graph_get_history(int max_items, int offset);            /* GET  /history */
graph_reply graph_get_history_item(const char *prompt_id);           /* GET  /history/{id} */
graph_reply graph_post_history(const char *body, size_t len);        /* POST /history */
/* GET /api/jobs: query is the raw query string (status, sort_by, limit, offset, ...). */
graph_reply graph_get_jobs(const char *query);
graph_reply graph_get_job(const char *job_id);
graph_reply graph_cancel_job(const char *job_id);
graph_reply graph_cancel_jobs(const char *body, size_t len);
graph_reply graph_object_info(const char *node_class);               /* NULL: all */

#endif
