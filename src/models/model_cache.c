/* model_cache.c -- a small LRU of reference-counted loaded models (see model_cache.h).
 *
 * The list is kept in use order, most recent first; models are few (a handful of
 * checkpoints at most), so a linked list walk is all the lookup needs.
 */
#include "models/model_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct mc_obj {
    char *key;
    void *payload;
    size_t bytes;
    void (*destroy)(void *);
    int refs;            /* the cache's (while cached) plus every user's */
    int cached;
    mc_obj *next;        /* use order, most recent first */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static mc_obj *head;
static size_t budget, held;

static void obj_free(mc_obj *o) {
    if (o->destroy) o->destroy(o->payload);
    free(o->key);
    free(o);
}

/* Unlinks o from the list (lock held); returns it. */
static mc_obj *unlink_obj(mc_obj *o) {
    for (mc_obj **p = &head; *p; p = &(*p)->next)
        if (*p == o) { *p = o->next; break; }
    o->next = NULL;
    return o;
}

/* Drops the cache's reference (lock held); returns o if that was the last one. */
static mc_obj *uncache(mc_obj *o) {
    unlink_obj(o);
    o->cached = 0;
    held -= o->bytes;
    return --o->refs == 0 ? o : NULL;
}

#define EVICT_MAX 64

/* Drops entries from the cold end while over budget, never `keep` (lock held); returns
 * how many of them in dead[] are to be freed, after unlocking (destructors are slow). */
static int evict(const mc_obj *keep, mc_obj **dead) {
    int n = 0;
    while (budget && held > budget && n < EVICT_MAX) {
        mc_obj *last = head;
        while (last->next) last = last->next;
        if (last == keep) break;
        mc_obj *d = uncache(last);
        if (d) dead[n++] = d;
    }
    return n;
}

void mc_set_budget(size_t bytes) {
    pthread_mutex_lock(&lock);
    budget = bytes;
    pthread_mutex_unlock(&lock);
}

size_t mc_budget(void) { return budget; }

mc_obj *mc_acquire(const char *key) {
    pthread_mutex_lock(&lock);
    mc_obj *o = head;
    while (o && strcmp(o->key, key)) o = o->next;
    if (o) {
        unlink_obj(o);
        o->next = head;
        head = o;
        o->refs++;
    }
    pthread_mutex_unlock(&lock);
    return o;
}

mc_obj *mc_insert(const char *key, void *payload, size_t bytes, void (*destroy)(void *)) {
    mc_obj *o = calloc(1, sizeof *o);
    char *k = strdup(key);
    if (!o || !k) {
        free(o);
        free(k);
        if (destroy) destroy(payload);
        return NULL;
    }
    *o = (mc_obj){k, payload, bytes, destroy, 2, 1, NULL};
    mc_obj *dead[EVICT_MAX];
    pthread_mutex_lock(&lock);
    o->next = head;
    head = o;
    held += bytes;
    int n_dead = evict(o, dead);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n_dead; i++) obj_free(dead[i]);
    return o;
}

void mc_resize(mc_obj *o, size_t bytes) {
    mc_obj *dead[EVICT_MAX];
    int n_dead = 0;
    pthread_mutex_lock(&lock);
    if (o->cached) {
        held = held - o->bytes + bytes;
        n_dead = evict(o, dead);
    }
    o->bytes = bytes;
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n_dead; i++) obj_free(dead[i]);
}

mc_obj *mc_ref(mc_obj *o) {
    pthread_mutex_lock(&lock);
    o->refs++;
    pthread_mutex_unlock(&lock);
    return o;
}

void mc_release(mc_obj *o) {
    if (!o) return;
    pthread_mutex_lock(&lock);
    int last = --o->refs == 0;
    pthread_mutex_unlock(&lock);
    if (last) obj_free(o);
}

void *mc_payload(const mc_obj *o) { return o->payload; }

void mc_clear(void) {
    pthread_mutex_lock(&lock);
    mc_obj *dead = NULL;
    while (head) {
        mc_obj *d = uncache(head);
        if (d) { d->next = dead; dead = d; }
    }
    pthread_mutex_unlock(&lock);
    while (dead) {
        mc_obj *n = dead->next;
        obj_free(dead);
        dead = n;
    }
}

size_t mc_count(void) {
    pthread_mutex_lock(&lock);
    size_t n = 0;
    for (mc_obj *o = head; o; o = o->next) n++;
    pthread_mutex_unlock(&lock);
    return n;
}

size_t mc_bytes(void) { return held; }
