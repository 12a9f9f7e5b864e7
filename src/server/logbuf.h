/* logbuf.h -- the last log lines, for /internal/logs and the terminal panel.
 *
 * Installed as the log sink at start: every line is kept (the last LOGBUF_MAX of them)
 * with its local ISO-8601 time, and a pump thread forwards new lines as `logs` messages
 * to WebSocket clients that subscribed (the sink itself runs under the log mutex and must
 * not touch sockets).
 */
#ifndef CI_SERVER_LOGBUF_H
#define CI_SERVER_LOGBUF_H

#include <cjson/cJSON.h>

#define LOGBUF_MAX 1000

void logbuf_start(void);
void logbuf_stop(void);
/* All entries as "<time> - <message>\n" concatenated; malloc'd. */
char *logbuf_text(void);
/* [{"t": time, "m": message}, ...] */
cJSON *logbuf_entries(void);

#endif
