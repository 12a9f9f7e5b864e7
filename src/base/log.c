/* log.c -- see log.h. */
#include "base/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static log_level log_level_now = LOG_LVL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static log_sink_fn log_sink;
static void *log_sink_ud;

void log_set_sink(log_sink_fn fn, void *ud) {
    pthread_mutex_lock(&log_lock);
    log_sink = fn;
    log_sink_ud = ud;
    pthread_mutex_unlock(&log_lock);
}

void log_set_level(log_level lvl) { log_level_now = lvl; }
log_level log_get_level(void) { return log_level_now; }

static const char *log_level_name(log_level lvl) {
    switch (lvl) {
    case LOG_LVL_ERROR: return "ERROR";
    case LOG_LVL_WARN: return "WARN";
    case LOG_LVL_INFO: return "INFO";
    default: return "DEBUG";
    }
}

/* journald sets JOURNAL_STREAM when stderr is connected to it; then it adds its own
 * timestamps and understands the "<N>" priority prefix. */
static int log_to_journal(void) {
    static int cached = -1;
    if (cached < 0) cached = getenv("JOURNAL_STREAM") != NULL;
    return cached;
}

void log_msg(log_level lvl, const char *fmt, ...) {
    if (lvl > log_level_now) return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);

    pthread_mutex_lock(&log_lock);
    if (log_to_journal()) {
        fprintf(stderr, "<%d>%s\n", (int)lvl, line);
    } else {
        char ts[32];
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
        fprintf(stderr, "%s [%s] %s\n", ts, log_level_name(lvl), line);
    }
    fflush(stderr);
    if (log_sink) log_sink(log_sink_ud, lvl, line);
    pthread_mutex_unlock(&log_lock);
}
