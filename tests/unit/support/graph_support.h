/* graph_support.h -- helpers for tests of the graph layer.
 *
 * gs_setup() registers the core pack plus stand-ins for the core nodes we do not have
 * yet (their INPUT_TYPES and outputs read from $SHARED/spec/comfyui-core-nodes.json,
 * their function failing), and a few test nodes; starts the graph with fresh
 * input/output/temp folders; and records every event. Tests then POST prompts and
 * wait for events.
 */
#ifndef GRAPH_SUPPORT_H
#define GRAPH_SUPPORT_H

#include <stddef.h>
#include "base/json.h"
#include "graph/api.h"

extern char gs_root[256];             /* the temp root; input/, output/, temp/ under it */
extern int gs_test_runs;              /* how often the TestCounter node ran */

void gs_setup(void);                  /* once per test binary; idempotent */
void gs_restart(int max_history, int cache_mode, int cache_lru);   /* fresh queue/history/cache */
cJSON *gs_spec_nodes(void);           /* the parsed comfyui-core-nodes.json (borrowed) */

/* POST /prompt with a prompt object (printed) and extra fields; returns the reply,
 * body parsed (caller deletes). */
cJSON *gs_post(const char *body_text, int *status);
/* Waits (up to 10 s) for an event of `type` with data.prompt_id == pid (or any when
 * NULL); returns its data (caller deletes) or NULL on timeout. Events seen earlier
 * count: the log is searched from `*cursor` on, and *cursor moves past the match. */
cJSON *gs_wait_event(const char *type, const char *pid, size_t *cursor);
/* Waits for the prompt's `executing {node: null}`, which follows its history entry. */
void gs_wait_done(const char *pid, size_t *cursor);
size_t gs_event_count(void);
const char *gs_event_text(size_t i);  /* raw JSON text, or NULL */
void gs_events_clear(void);
char *gs_read_file(const char *path, size_t *len);

#endif
