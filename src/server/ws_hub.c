/* ws_hub.c -- WebSocket endpoint, reader threads and the client table (see ws_hub.h).
 *
 * Locking: `hub.lock` guards the client list and is held while sending to clients, so
 * a client cannot be freed while a message is on its way to it; each client's `wlock`
 * keeps frames from the reader thread (pongs, the feature-flag reply) and the hub whole.
 * Sockets have a send timeout so one stuck client cannot hold the hub for long.
 */
#include "server/ws_hub.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "graph/api.h"
#include "server/features.h"
#include "server/routes.h"
#include "server/ws_frame.h"

#define WS_MAX_MESSAGE (4u << 20)     /* aiohttp's default max_msg_size */

typedef struct queued {
    struct queued *next;
    int opcode;
    size_t len;
    uint8_t data[];
} queued;

typedef struct ws_client {
    struct ws_client *next;
    int fd;
    struct MHD_UpgradeResponseHandle *urh;
    char sid[128];
    int registered;          /* the table's entry for sid (a newer one replaces it) */
    int preview_metadata;    /* announced supports_preview_metadata */
    int logs;                /* subscribed to log messages */
    int dead;
    struct queued *queue, **queue_tail;     /* messages kept while its sid is held */
    pthread_mutex_t wlock;
    uint8_t *pending;        /* bytes MHD read past the handshake */
    size_t pending_len;
} ws_client;

/* A held sid; a client may connect (or reconnect) while its sid is held. */
typedef struct hold {
    struct hold *next;
    int count;
    char sid[];
} hold;

/* A release due at a time (ws_hub_release_after). */
typedef struct timer {
    struct timer *next;
    struct timespec due;     /* CLOCK_MONOTONIC */
    char sid[];
} timer;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t gone;
    pthread_cond_t timers_changed;
    ws_client *clients;
    hold *holds;
    timer *timers;           /* sorted by due time */
    pthread_t timer_thread;
    int timer_running;
    int count;
    int stopping;
} hub = {.lock = PTHREAD_MUTEX_INITIALIZER, .gone = PTHREAD_COND_INITIALIZER};

/* ---- sending ---- */

static int send_all(int fd, const uint8_t *p, size_t n, int more) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int ws_send(ws_client *c, int opcode, const void *data, size_t len) {
    uint8_t hdr[10];
    size_t h = ws_frame_header(hdr, opcode, len);
    pthread_mutex_lock(&c->wlock);
    int rc = c->dead ? -1 : 0;
    /* The header is corked onto the payload: one segment, no Nagle wait between them. */
    if (!rc) rc = send_all(c->fd, hdr, h, len > 0);
    if (!rc && len) rc = send_all(c->fd, data, len, 0);
    if (rc && !c->dead) {
        c->dead = 1;
        shutdown(c->fd, SHUT_RDWR);     /* wakes the reader, which cleans up */
    }
    pthread_mutex_unlock(&c->wlock);
    return rc;
}

static hold *find_hold(const char *sid) {
    for (hold *h = hub.holds; h; h = h->next)
        if (!strcmp(h->sid, sid)) return h;
    return NULL;
}

/* Messages that end a client's wait for a prompt: what a client that listens late
 * must not miss. */
static int is_result_message(const char *json) {
    static const char *const types[] = {"executed", "execution_success", "execution_error",
                                        "execution_interrupted", "executing"};
    cJSON *m = cJSON_Parse(json);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
    int result = 0;
    for (size_t i = 0; cJSON_IsString(type) && i < sizeof types / sizeof types[0]; i++)
        result |= !strcmp(type->valuestring, types[i]);
    if (result && !strcmp(type->valuestring, "executing")) {       /* only "executing null" */
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(m, "data");
        result = cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(data, "node"));
    }
    cJSON_Delete(m);
    return result;
}

/* Sends now, or queues: while the client's sid is held, from its first result message
 * on, everything is queued in order (hub lock held by the caller). Progress before
 * that flows live, so a long prompt's client sees it run. */
static void deliver(ws_client *c, int opcode, const void *data, size_t len) {
    if (!c->queue && (!find_hold(c->sid) || opcode != WS_TEXT || !is_result_message(data))) {
        ws_send(c, opcode, data, len);
        return;
    }
    queued *q = malloc(sizeof *q + len);
    if (!q) return;
    q->next = NULL;
    q->opcode = opcode;
    q->len = len;
    memcpy(q->data, data, len);
    *c->queue_tail = q;
    c->queue_tail = &q->next;
}

static void flush_queue(ws_client *c) {
    queued *q = c->queue;
    c->queue = NULL;
    c->queue_tail = &c->queue;
    while (q) {
        queued *next = q->next;
        ws_send(c, q->opcode, q->data, q->len);
        free(q);
        q = next;
    }
}

void ws_hub_hold(const char *sid) {
    pthread_mutex_lock(&hub.lock);
    hold *h = find_hold(sid);
    if (!h && (h = calloc(1, sizeof *h + strlen(sid) + 1))) {
        strcpy(h->sid, sid);
        h->next = hub.holds;
        hub.holds = h;
    }
    if (h) h->count++;
    pthread_mutex_unlock(&hub.lock);
}

static void release_locked(const char *sid) {
    for (hold **p = &hub.holds; *p; p = &(*p)->next) {
        hold *h = *p;
        if (strcmp(h->sid, sid) || --h->count > 0) continue;
        *p = h->next;
        free(h);
        for (ws_client *c = hub.clients; c; c = c->next)
            if (!strcmp(c->sid, sid)) flush_queue(c);
        break;
    }
}

void ws_hub_release(const char *sid) {
    pthread_mutex_lock(&hub.lock);
    release_locked(sid);
    pthread_mutex_unlock(&hub.lock);
}

static int due_before(const struct timespec *a, const struct timespec *b) {
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

void ws_hub_release_after(const char *sid, int ms) {
    timer *t = calloc(1, sizeof *t + strlen(sid) + 1);
    pthread_mutex_lock(&hub.lock);
    if (!t || !hub.timer_running) {
        release_locked(sid);
        pthread_mutex_unlock(&hub.lock);
        free(t);
        return;
    }
    strcpy(t->sid, sid);
    clock_gettime(CLOCK_MONOTONIC, &t->due);
    t->due.tv_nsec += (long)ms * 1000000L;
    t->due.tv_sec += t->due.tv_nsec / 1000000000L;
    t->due.tv_nsec %= 1000000000L;
    timer **p = &hub.timers;
    while (*p && !due_before(&t->due, &(*p)->due)) p = &(*p)->next;
    t->next = *p;
    *p = t;
    pthread_cond_signal(&hub.timers_changed);
    pthread_mutex_unlock(&hub.lock);
}

/* Runs due releases; sleeps until the next one or until the list changes. */
static void *timer_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&hub.lock);
    while (hub.timer_running) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (hub.timers && !due_before(&now, &hub.timers->due)) {
            timer *t = hub.timers;
            hub.timers = t->next;
            release_locked(t->sid);
            free(t);
        } else if (hub.timers) {
            pthread_cond_timedwait(&hub.timers_changed, &hub.lock, &hub.timers->due);
        } else {
            pthread_cond_wait(&hub.timers_changed, &hub.lock);
        }
    }
    pthread_mutex_unlock(&hub.lock);
    return NULL;
}

static void ws_close_frame(ws_client *c, int code) {
    uint8_t payload[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    ws_send(c, WS_CLOSE, payload, 2);
}

/* Type 4 (metadata + image) -> type 1 (format + image) for clients without metadata. */
static uint8_t *legacy_preview(const unsigned char *bin, size_t len, size_t *out_len) {
    if (len < 8) return NULL;
    uint32_t m = (uint32_t)bin[4] << 24 | (uint32_t)bin[5] << 16 | (uint32_t)bin[6] << 8 | bin[7];
    if (m > len - 8) return NULL;
    int png = memmem(bin + 8, m, "image/png", 9) != NULL;
    size_t image_len = len - 8 - m;
    uint8_t *out = malloc(8 + image_len);
    if (!out) return NULL;
    memcpy(out, "\0\0\0\1\0\0\0", 7);
    out[7] = png ? 2 : 1;
    memcpy(out + 8, bin + 8 + m, image_len);
    *out_len = 8 + image_len;
    return out;
}

static int is_preview_with_metadata(const unsigned char *bin, size_t len) {
    return len >= 4 && bin[0] == 0 && bin[1] == 0 && bin[2] == 0 && bin[3] == 4;
}

void ws_hub_event(void *ud, const char *sid, const char *json, const unsigned char *bin, size_t len) {
    (void)ud;
    uint8_t *legacy = NULL;
    size_t legacy_len = 0;
    pthread_mutex_lock(&hub.lock);
    for (ws_client *c = hub.clients; c; c = c->next) {
        if (!c->registered || (sid && strcmp(c->sid, sid))) continue;
        if (json) {
            deliver(c, WS_TEXT, json, strlen(json));
        } else if (bin && is_preview_with_metadata(bin, len) && !c->preview_metadata) {
            if (!legacy) legacy = legacy_preview(bin, len, &legacy_len);
            if (legacy) deliver(c, WS_BINARY, legacy, legacy_len);
        } else if (bin) {
            deliver(c, WS_BINARY, bin, len);
        }
    }
    pthread_mutex_unlock(&hub.lock);
    free(legacy);
}

int ws_hub_subscribe_logs(const char *sid, int enabled) {
    int found = -1;
    pthread_mutex_lock(&hub.lock);
    for (ws_client *c = hub.clients; c; c = c->next)
        if (c->registered && !strcmp(c->sid, sid)) c->logs = enabled, found = 0;
    pthread_mutex_unlock(&hub.lock);
    return found;
}

void ws_hub_send_logs(const char *json) {
    pthread_mutex_lock(&hub.lock);
    for (ws_client *c = hub.clients; c; c = c->next)
        if (c->registered && c->logs) ws_send(c, WS_TEXT, json, strlen(json));
    pthread_mutex_unlock(&hub.lock);
}

/* ---- reading ---- */

typedef struct reader {
    uint8_t *buf;
    size_t len, cap;
} reader;

/* Ensures at least `want` bytes are buffered; 0, or -1 when the peer is gone. */
static int fill(ws_client *c, reader *r, size_t want) {
    while (r->len < want) {
        if (want > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < want) cap *= 2;
            uint8_t *grown = realloc(r->buf, cap);
            if (!grown) return -1;
            r->buf = grown;
            r->cap = cap;
        }
        ssize_t k = recv(c->fd, r->buf + r->len, r->cap - r->len, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        r->len += (size_t)k;
    }
    return 0;
}

static void consume(reader *r, size_t n) {
    memmove(r->buf, r->buf + n, r->len - n);
    r->len -= n;
}

/* Only the client's first text message counts, and only if it is feature_flags. */
static void on_first_message(ws_client *c, const char *text) {
    cJSON *msg = cJSON_Parse(text);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(msg, "type");
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "feature_flags")) {
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(msg, "data");
        c->preview_metadata = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "supports_preview_metadata"));
        cJSON *reply = cJSON_CreateObject();
        cJSON_AddStringToObject(reply, "type", "feature_flags");
        cJSON_AddItemToObject(reply, "data", features_object());
        char *out = cJSON_PrintUnformatted(reply);
        if (out) ws_send(c, WS_TEXT, out, strlen(out));
        free(out);
        cJSON_Delete(reply);
    }
    cJSON_Delete(msg);
}

/* Reads frames until the connection ends; returns the close code to send (0: none). */
static int read_loop(ws_client *c) {
    reader r = {.buf = c->pending, .len = c->pending_len, .cap = c->pending_len};
    c->pending = NULL;
    uint8_t *msg = NULL;
    size_t msg_len = 0;
    int msg_opcode = -1, seen_text = 0, code = 0;
    for (;;) {
        ws_frame f;
        int h;
        while ((h = ws_frame_parse(r.buf, r.len, 1, &f)) == 0)
            if (fill(c, &r, r.len + 1)) goto out;
        if (h < 0) { code = WS_CLOSE_PROTOCOL; break; }
        if (f.len > WS_MAX_MESSAGE || msg_len + f.len > WS_MAX_MESSAGE) { code = WS_CLOSE_TOO_BIG; break; }
        if (fill(c, &r, f.header_len + (size_t)f.len)) break;
        uint8_t *payload = r.buf + f.header_len;
        ws_unmask(payload, (size_t)f.len, f.mask, 0);

        if (f.opcode == WS_PING) {
            ws_send(c, WS_PONG, payload, (size_t)f.len);
        } else if (f.opcode == WS_CLOSE) {
            int peer = f.len >= 2 ? payload[0] << 8 | payload[1] : WS_CLOSE_NORMAL;
            code = peer >= 1000 && peer < 5000 ? peer : WS_CLOSE_PROTOCOL;
            break;
        } else if (f.opcode != WS_PONG) {
            /* Data: a new message must not start inside another, a continuation must. */
            if ((f.opcode == WS_CONT) != (msg_opcode >= 0)) { code = WS_CLOSE_PROTOCOL; break; }
            if (f.opcode != WS_CONT) msg_opcode = f.opcode;
            uint8_t *grown = realloc(msg, msg_len + (size_t)f.len + 1);
            if (!grown) break;
            msg = grown;
            memcpy(msg + msg_len, payload, (size_t)f.len);
            msg_len += (size_t)f.len;
            msg[msg_len] = '\0';
            if (f.fin) {
                if (msg_opcode == WS_TEXT && !seen_text++) on_first_message(c, (const char *)msg);
                msg_len = 0;
                msg_opcode = -1;
            }
        }
        consume(&r, f.header_len + (size_t)f.len);
    }
out:
    free(msg);
    free(r.buf);
    return code;
}

static void hub_remove(ws_client *c) {
    pthread_mutex_lock(&hub.lock);
    for (ws_client **p = &hub.clients; *p; p = &(*p)->next) {
        if (*p != c) continue;
        *p = c->next;
        break;
    }
    hub.count--;
    pthread_cond_broadcast(&hub.gone);
    pthread_mutex_unlock(&hub.lock);
}

static void *client_thread(void *arg) {
    ws_client *c = arg;
    /* status with the sid, then the node in progress when this sid's prompt is running
     * (a reconnecting page); under the hub lock so broadcasts cannot come in between. */
    char *status = graph_status_message(c->sid), *executing = graph_executing_message(c->sid);
    pthread_mutex_lock(&hub.lock);
    if (status) ws_send(c, WS_TEXT, status, strlen(status));
    if (executing) ws_send(c, WS_TEXT, executing, strlen(executing));
    pthread_mutex_unlock(&hub.lock);
    free(status);
    free(executing);
    int code = read_loop(c);
    if (code) ws_close_frame(c, code);
    log_debug("websocket %s closed (%d)", c->sid, code);
    /* Closed before hub_remove: ws_hub_stop waits for the count to reach zero and then
     * stops the MHD daemon, which must not race with this close. No write can reach the
     * closed socket: writers check `dead` under wlock. */
    pthread_mutex_lock(&c->wlock);
    c->dead = 1;
    pthread_mutex_unlock(&c->wlock);
    MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
    hub_remove(c);
    for (queued *q = c->queue, *next; q; q = next) {
        next = q->next;
        free(q);
    }
    pthread_mutex_destroy(&c->wlock);
    free(c->pending);
    free(c);
    return NULL;
}

static void on_upgraded(void *ud, int fd, const char *extra, size_t extra_len, void *urh) {
    ws_client *c = ud;
    c->fd = fd;
    c->urh = urh;
    /* MHD hands the socket over non-blocking; the reader thread blocks on it. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;      /* events are small and latency matters (fails harmlessly under TLS) */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (extra_len && (c->pending = malloc(extra_len))) {
        memcpy(c->pending, extra, extra_len);
        c->pending_len = extra_len;
    }
    pthread_mutex_init(&c->wlock, NULL);
    c->queue_tail = &c->queue;

    pthread_mutex_lock(&hub.lock);
    for (ws_client *o = hub.clients; o; o = o->next)
        if (o->registered && !strcmp(o->sid, c->sid)) o->registered = 0;
    c->registered = !hub.stopping;
    c->next = hub.clients;
    hub.clients = c;
    hub.count++;
    pthread_mutex_unlock(&hub.lock);

    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, client_thread, c)) {
        log_error("websocket: cannot start a thread");
        hub_remove(c);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        pthread_mutex_destroy(&c->wlock);
        free(c->pending);
        free(c);
    }
    pthread_attr_destroy(&attr);
}

static int header_has_token(const char *value, const char *token) {
    if (!value) return 0;
    size_t n = strlen(token);
    for (const char *p = value; *p;) {
        while (*p == ' ' || *p == ',') p++;
        size_t k = strcspn(p, ",");
        size_t t = k;
        while (t && p[t - 1] == ' ') t--;
        if (t == n && !strncasecmp(p, token, n)) return 1;
        p += k;
    }
    return 0;
}

static void uuid_hex(char out[33]) {
    uint8_t b[16];
    if (getrandom(b, sizeof b, 0) != sizeof b) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        for (int i = 0; i < 16; i++) b[i] = (uint8_t)((ts.tv_nsec >> (i % 4 * 8)) ^ rand());
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
}

ROUTE(route_ws) {
    const char *key = req->header(req, "Sec-WebSocket-Key");
    const char *version = req->header(req, "Sec-WebSocket-Version");
    if (!header_has_token(req->header(req, "Upgrade"), "websocket") ||
        !header_has_token(req->header(req, "Connection"), "upgrade")) {
        http_reply_text(res, 400, "400: Bad Request\n\nNo WebSocket UPGRADE hdr");
        return;
    }
    if (!version || strcmp(version, "13")) {
        http_reply_text(res, 400, "400: Bad Request\n\nUnsupported Sec-WebSocket-Version");
        http_set_header(res, "Sec-WebSocket-Version", "13");
        return;
    }
    if (!key || strlen(key) != 24) {
        http_reply_text(res, 400, "400: Bad Request\n\nHandshake error: bad Sec-WebSocket-Key");
        return;
    }
    ws_client *c = calloc(1, sizeof *c);
    if (!c) {
        http_reply_error(res, 500);
        return;
    }
    char *client_id = http_query_get(req->query, "clientId");
    if (client_id && client_id[0] && strlen(client_id) < sizeof c->sid) snprintf(c->sid, sizeof c->sid, "%s", client_id);
    else uuid_hex(c->sid);
    free(client_id);

    char accept[29];
    ws_accept_key(key, accept);
    http_reply(res, 101, NULL, NULL, 0);
    http_set_header(res, "Sec-WebSocket-Accept", accept);
    res->upgrade = on_upgraded;
    res->upgrade_ud = c;
}

void ws_hub_start(void) {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&hub.timers_changed, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_lock(&hub.lock);
    hub.stopping = 0;
    hub.timer_running = 1;
    pthread_mutex_unlock(&hub.lock);
    if (pthread_create(&hub.timer_thread, NULL, timer_main, NULL)) hub.timer_running = 0;
}

/* Pending releases run now; holds and their queues are dropped with the clients. */
static void stop_timers(void) {
    pthread_mutex_lock(&hub.lock);
    int running = hub.timer_running;
    hub.timer_running = 0;
    pthread_cond_signal(&hub.timers_changed);
    pthread_mutex_unlock(&hub.lock);
    if (running) pthread_join(hub.timer_thread, NULL);
    pthread_mutex_lock(&hub.lock);
    while (hub.timers) {
        timer *t = hub.timers;
        hub.timers = t->next;
        release_locked(t->sid);
        free(t);
    }
    while (hub.holds) {
        hold *h = hub.holds;
        hub.holds = h->next;
        free(h);
    }
    pthread_mutex_unlock(&hub.lock);
    pthread_cond_destroy(&hub.timers_changed);
}

void ws_hub_stop(void) {
    stop_timers();
    pthread_mutex_lock(&hub.lock);
    hub.stopping = 1;
    for (ws_client *c = hub.clients; c; c = c->next) {
        c->registered = 0;
        ws_close_frame(c, WS_CLOSE_GOING_AWAY);
        pthread_mutex_lock(&c->wlock);
        if (!c->dead) shutdown(c->fd, SHUT_RDWR);      /* wakes its reader */
        pthread_mutex_unlock(&c->wlock);
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    while (hub.count > 0)
        if (pthread_cond_timedwait(&hub.gone, &hub.lock, &until) == ETIMEDOUT) break;
    pthread_mutex_unlock(&hub.lock);
}
