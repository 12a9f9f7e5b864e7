/* logbuf.c -- ring of recent log lines and the pump to subscribed sockets (see logbuf.h). */
#include "server/logbuf.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "base/log.h"
#include "server/ws_hub.h"

typedef struct entry {
    char t[40];
    char *m;
    unsigned long seq;
} entry;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    entry ring[LOGBUF_MAX];
    unsigned long next;      /* sequence number of the next line */
    unsigned long sent;      /* lines the pump has forwarded */
    int running;
    pthread_t pump;
} lb = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static void iso_now(char *out, size_t cap) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%06ld", base, (long)tv.tv_usec);
}

static void on_line(void *ud, log_level lvl, const char *line) {
    (void)ud, (void)lvl;
    pthread_mutex_lock(&lb.lock);
    entry *e = &lb.ring[lb.next % LOGBUF_MAX];
    free(e->m);
    iso_now(e->t, sizeof e->t);
    size_t n = strlen(line);
    e->m = malloc(n + 2);
    if (e->m) {
        memcpy(e->m, line, n);
        memcpy(e->m + n, "\n", 2);   /* ComfyUI's messages carry their newline */
    }
    e->seq = lb.next++;
    pthread_cond_signal(&lb.wake);
    pthread_mutex_unlock(&lb.lock);
}

static unsigned long first_kept(void) { return lb.next > LOGBUF_MAX ? lb.next - LOGBUF_MAX : 0; }

static cJSON *entries_from(unsigned long from) {
    cJSON *arr = cJSON_CreateArray();
    for (unsigned long s = from; s < lb.next; s++) {
        entry *e = &lb.ring[s % LOGBUF_MAX];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "t", e->t);
        cJSON_AddStringToObject(o, "m", e->m ? e->m : "");
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static void *pump(void *arg) {
    (void)arg;
    pthread_mutex_lock(&lb.lock);
    while (lb.running) {
        while (lb.running && lb.sent == lb.next) pthread_cond_wait(&lb.wake, &lb.lock);
        if (!lb.running) break;
        unsigned long from = lb.sent < first_kept() ? first_kept() : lb.sent;
        cJSON *msg = cJSON_CreateObject();
        cJSON_AddStringToObject(msg, "type", "logs");
        cJSON *data = cJSON_AddObjectToObject(msg, "data");
        cJSON_AddItemToObject(data, "entries", entries_from(from));
        cJSON_AddNullToObject(data, "size");
        lb.sent = lb.next;
        pthread_mutex_unlock(&lb.lock);
        char *text = cJSON_PrintUnformatted(msg);
        cJSON_Delete(msg);
        if (text) ws_hub_send_logs(text);
        free(text);
        pthread_mutex_lock(&lb.lock);
    }
    pthread_mutex_unlock(&lb.lock);
    return NULL;
}

void logbuf_start(void) {
    lb.running = 1;
    log_set_sink(on_line, NULL);
    if (pthread_create(&lb.pump, NULL, pump, NULL)) lb.running = 0;
}

void logbuf_stop(void) {
    log_set_sink(NULL, NULL);
    pthread_mutex_lock(&lb.lock);
    int was = lb.running;
    lb.running = 0;
    pthread_cond_signal(&lb.wake);
    pthread_mutex_unlock(&lb.lock);
    if (was) pthread_join(lb.pump, NULL);
    for (int i = 0; i < LOGBUF_MAX; i++) {
        free(lb.ring[i].m);
        lb.ring[i].m = NULL;
    }
    lb.next = lb.sent = 0;
}

char *logbuf_text(void) {
    pthread_mutex_lock(&lb.lock);
    size_t cap = 1;
    for (unsigned long s = first_kept(); s < lb.next; s++) {
        entry *e = &lb.ring[s % LOGBUF_MAX];
        cap += strlen(e->t) + 3 + (e->m ? strlen(e->m) : 0);
    }
    char *out = malloc(cap), *w = out;
    if (out) {
        *w = '\0';
        for (unsigned long s = first_kept(); s < lb.next; s++) {
            entry *e = &lb.ring[s % LOGBUF_MAX];
            w += sprintf(w, "%s - %s", e->t, e->m ? e->m : "");
        }
    }
    pthread_mutex_unlock(&lb.lock);
    return out;
}

cJSON *logbuf_entries(void) {
    pthread_mutex_lock(&lb.lock);
    cJSON *arr = entries_from(first_kept());
    pthread_mutex_unlock(&lb.lock);
    return arr;
}
