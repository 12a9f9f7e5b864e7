/* ws_hub.h -- the WebSocket clients, keyed by session id (sid).
 *
 * Each upgraded connection gets a reader thread; the hub keeps the table of live
 * clients and sends to one sid or to everyone. The graph's events arrive through
 * ws_hub_event (installed as its event sink). A newer connection with a sid already in
 * the table replaces the old one, which then receives nothing more (as ComfyUI).
 */
#ifndef CI_SERVER_WS_HUB_H
#define CI_SERVER_WS_HUB_H

#include <stddef.h>

void ws_hub_start(void);
/* Closes every client (close frame 1001) and waits for their threads. */
void ws_hub_stop(void);

/* The graph's event sink (graph_event_fn). sid NULL: everyone. Binary previews come as
 * type 4 (with metadata); clients that did not announce supports_preview_metadata get
 * them converted to type 1. */
void ws_hub_event(void *ud, const char *sid, const char *json, const unsigned char *bin, size_t len);

/* While a sid is held, its clients' messages from the first result message on
 * (executed, execution_*, executing null) are queued in order until the matching
 * release; the sid need not be connected yet. POST /prompt holds its client while the
 * answer with the prompt id is on its way (see routes_graph.c). */
void ws_hub_hold(const char *sid);
void ws_hub_release(const char *sid);
/* The same release, ms milliseconds from now (on the hub's timer thread). */
void ws_hub_release_after(const char *sid, int ms);

/* /internal/logs/subscribe: returns 0, or -1 when no client has that sid. */
int ws_hub_subscribe_logs(const char *sid, int enabled);
/* Sends a text message to every client subscribed to logs. */
void ws_hub_send_logs(const char *json);

#endif
