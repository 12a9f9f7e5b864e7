/* log.h -- leveled logging to stderr.
 *
 * Lines carry an sd-daemon priority prefix ("<3>") when stderr is the journal, so
 * journald files them at the right level; otherwise a timestamp and level name. One
 * mutex keeps lines from different threads whole.
 */
#ifndef CI_LOG_H
#define CI_LOG_H

typedef enum { LOG_LVL_ERROR = 3, LOG_LVL_WARN = 4, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 } log_level;

void log_set_level(log_level lvl);
log_level log_get_level(void);
/* One extra receiver of every emitted line (the server's /internal/logs buffer). It is
 * called with the log mutex held, so it must not log. */
typedef void (*log_sink_fn)(void *ud, log_level lvl, const char *line);
void log_set_sink(log_sink_fn fn, void *ud);

void log_msg(log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
