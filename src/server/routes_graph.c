/* routes_graph.c -- the routes the graph layer answers: prompt, queue, interrupt, free,
 * history, jobs, object_info. The server only unwraps the request (raw body bytes, so
 * 64-bit integers reach the graph's parser intact) and sends back what the graph says.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "graph/api.h"
#include "server/routes.h"
#include "server/ws_hub.h"

static void reply(http_response *res, graph_reply r) {
    if (r.body) http_reply_json_text(res, r.status, r.body);
    else http_reply_empty(res, r.status);
}

ROUTE(route_prompt_get) { (void)req; reply(res, graph_get_prompt()); }
/* Clients such as @stable-canvas/comfyui-client start listening for a prompt's result
 * only once they have parsed the answer carrying its id; with ComfyUI that is safe
 * because its worker needs tens of milliseconds per prompt, here a cached prompt can be
 * finished before the answer is even written. So the posting client's result messages
 * (executed, execution_success/error/interrupted, executing null, and all after them)
 * wait until the answer has gone out plus this grace period (a cold Node fetch() chain
 * takes 20-50 ms). Progress before them flows live; execution is never delayed. */
#define RELEASE_GRACE_MS 100

static void release_client(void *sid) {
    ws_hub_release_after(sid, RELEASE_GRACE_MS);
    free(sid);
}

/* The prompt's client gets no event before this answer has gone out (see ws_hub_hold). */
ROUTE(route_prompt_post) {
    cJSON *body = cJSON_ParseWithLength(req->body, req->body_len);
    const cJSON *client = cJSON_GetObjectItemCaseSensitive(body, "client_id");
    char *sid = cJSON_IsString(client) ? strdup(client->valuestring) : NULL;
    cJSON_Delete(body);
    if (sid) ws_hub_hold(sid);
    reply(res, graph_post_prompt(req->body, req->body_len));
    if (sid) {
        res->on_sent = release_client;
        res->on_sent_ud = sid;
    }
}
ROUTE(route_queue_get) { (void)req; reply(res, graph_get_queue()); }
ROUTE(route_queue_post) { reply(res, graph_post_queue(req->body, req->body_len)); }
ROUTE(route_interrupt) { reply(res, graph_post_interrupt(req->body, req->body_len)); }
ROUTE(route_free) { reply(res, graph_post_free(req->body, req->body_len)); }
ROUTE(route_history_post) { reply(res, graph_post_history(req->body, req->body_len)); }
ROUTE(route_history_item) { reply(res, graph_get_history_item(req->params[0])); }
ROUTE(route_jobs) { reply(res, graph_get_jobs(req->query)); }
ROUTE(route_job) { reply(res, graph_get_job(req->params[0])); }
ROUTE(route_job_cancel) { reply(res, graph_cancel_job(req->params[0])); }
ROUTE(route_jobs_cancel) { reply(res, graph_cancel_jobs(req->body, req->body_len)); }
ROUTE(route_object_info) { (void)req; reply(res, graph_object_info(NULL)); }
ROUTE(route_object_info_class) { reply(res, graph_object_info(req->params[0])); }

/* An integer query parameter: absent -> -1; not an integer -> error (ComfyUI: 500). */
static int int_param(const http_request *req, const char *name, int *out) {
    char *v = http_query_get(req->query, name);
    *out = -1;
    if (!v) return 0;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    int bad = errno || end == v || *end || n < INT_MIN || n > INT_MAX;
    free(v);
    if (!bad) *out = (int)n;
    return bad ? -1 : 0;
}

/* max_items / offset: -1 when not given (the graph then returns everything). */
ROUTE(route_history_get) {
    int max_items, offset;
    if (int_param(req, "max_items", &max_items) || int_param(req, "offset", &offset)) {
        http_reply_error(res, 500);
        return;
    }
    reply(res, graph_get_history(max_items, offset));
}
