/* routes_user.c -- /users, /settings, /userdata and /v2/userdata (spec 2.9).
 *
 * A user's files live under <user dir>/<user id>/ ("default" in single-user mode; with
 * --multi-user the Comfy-User header picks a user listed in users.json). Every path
 * from a request goes through safepath, so nothing outside that root is read or
 * written. Writes are atomic (temporary file, then rename).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/dirwalk.h"
#include "base/folders.h"
#include "server/mime.h"
#include "server/routes.h"
#include "server/safepath.h"
#include "server/server.h"

/* ---- files ---- */

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct stat st;
    char *buf = NULL;
    if (!fstat(fileno(f), &st) && S_ISREG(st.st_mode) && (buf = malloc((size_t)st.st_size + 1))) {
        size_t n = fread(buf, 1, (size_t)st.st_size, f);
        buf[n] = '\0';
        if (len) *len = n;
    }
    fclose(f);
    return buf;
}

/* Writes data to path through a temporary file in the same folder; 0 or -1. */
static int write_atomic(const char *path, const void *data, size_t len) {
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) return -1;
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t k = write(fd, p, left);
        if (k <= 0) break;
        p += k;
        left -= (size_t)k;
    }
    fchmod(fd, 0644);
    if (close(fd) || left || rename(tmp, path)) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int parent_dirs(const char *path) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return 0;
    *slash = '\0';
    return folders_mkdirs(dir);
}

/* ---- users ---- */

static cJSON *load_users(void) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/users.json", folders_user());
    char *text = slurp(path, NULL);
    cJSON *users = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!cJSON_IsObject(users)) {
        cJSON_Delete(users);
        users = cJSON_CreateObject();
    }
    return users;
}

/* The request's user root; -1 when multi-user mode names no known user. */
static int user_root(const http_request *req, char *out, size_t cap) {
    const char *id = "default";
    cJSON *users = NULL;
    if (server_opts()->multi_user) {
        id = req->header(req, "comfy-user");
        users = load_users();
        if (!id || !id[0] || !strncmp(id, "__", 2) || !cJSON_GetObjectItemCaseSensitive(users, id) ||
            strchr(id, '/') || !strcmp(id, "..") || !strcmp(id, ".")) {
            cJSON_Delete(users);
            return -1;
        }
    }
    int rc = snprintf(out, cap, "%s/%s", folders_user(), id) >= (int)cap ? -1 : 0;
    cJSON_Delete(users);
    return rc;
}

ROUTE(route_users_get) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "storage", "server");
    if (server_opts()->multi_user) {
        cJSON_AddItemToObject(o, "users", load_users());
    } else {
        char root[PATH_MAX];
        struct stat st;
        user_root(req, root, sizeof root);
        cJSON_AddBoolToObject(o, "migrated", !stat(root, &st) && S_ISDIR(st.st_mode));
    }
    http_reply_json(res, 200, o);
}

static void error_json(http_response *res, int status, const char *msg) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    http_reply_json(res, status, o);
}

ROUTE(route_users_post) {
    cJSON *body = cJSON_ParseWithLength(req->body, req->body_len);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "username");
    if (!cJSON_IsString(name)) {
        cJSON_Delete(body);
        http_reply_error(res, 400);
        return;
    }
    char display[256];
    snprintf(display, sizeof display, "%s", name->valuestring);
    cJSON_Delete(body);
    char *s = display;
    while (*s == ' ') s++;
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ') s[--n] = '\0';
    if (!n) { error_json(res, 400, "username not provided"); return; }
    if (!strncmp(s, "__", 2)) { error_json(res, 400, "username cannot start with __"); return; }
    cJSON *users = load_users();
    for (cJSON *u = users->child; u; u = u->next)
        if (cJSON_IsString(u) && !strcmp(u->valuestring, s)) {
            cJSON_Delete(users);
            { error_json(res, 400, "Duplicate username."); return; }
        }
    /* ComfyUI's [^a-zA-Z0-9-_]+ -> "-" keeps letters, digits and the ASCII range '9'..'_'. */
    char id[512];
    size_t w = 0;
    int in_run = 0;
    for (size_t i = 0; i < n && w + 1 < 300; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '_');
        if (ok) id[w++] = (char)c;
        else if (!in_run) id[w++] = '-';
        in_run = !ok;
    }
    uint8_t b[16];
    if (getrandom(b, sizeof b, 0) != sizeof b) memset(b, 0x5a, sizeof b);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    w += (size_t)snprintf(id + w, sizeof id - w, "_%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                          b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    cJSON_AddStringToObject(users, id, s);
    char path[PATH_MAX], root[PATH_MAX];
    snprintf(path, sizeof path, "%s/users.json", folders_user());
    char *text = cJSON_Print(users);
    cJSON_Delete(users);
    int rc = text ? write_atomic(path, text, strlen(text)) : -1;
    free(text);
    snprintf(root, sizeof root, "%s/%s", folders_user(), id);
    if (rc || folders_mkdirs(root)) {
        http_reply_error(res, 500);
        return;
    }
    http_reply_json(res, 200, cJSON_CreateString(id));
}

/* ---- settings ---- */

static void settings_path(const char *root, char *out, size_t cap) { snprintf(out, cap, "%s/comfy.settings.json", root); }

static cJSON *load_settings(const char *root) {
    char path[PATH_MAX];
    settings_path(root, path, sizeof path);
    char *text = slurp(path, NULL);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        o = cJSON_CreateObject();
    }
    return o;
}

static int save_settings(const char *root, cJSON *settings) {
    char path[PATH_MAX];
    settings_path(root, path, sizeof path);
    char *text = cJSON_Print(settings);
    int rc = !text || folders_mkdirs(root) ? -1 : write_atomic(path, text, strlen(text));
    free(text);
    return rc;
}

ROUTE(route_settings_get) {
    char root[PATH_MAX];
    if (user_root(req, root, sizeof root)) { http_reply_error(res, 401); return; }
    http_reply_json(res, 200, load_settings(root));
}

ROUTE(route_settings_post) {
    char root[PATH_MAX];
    if (user_root(req, root, sizeof root)) { http_reply_error(res, 401); return; }
    cJSON *body = cJSON_ParseWithLength(req->body, req->body_len);
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        http_reply_text(res, 400, "400: Bad Request\n\nsettings must be a JSON object");
        return;
    }
    cJSON *settings = load_settings(root);
    for (cJSON *it = body->child; it; it = it->next) {
        cJSON *copy = cJSON_Duplicate(it, 1);
        if (cJSON_GetObjectItemCaseSensitive(settings, it->string)) cJSON_ReplaceItemInObjectCaseSensitive(settings, it->string, copy);
        else cJSON_AddItemToObject(settings, it->string, copy);
    }
    cJSON_Delete(body);
    int rc = save_settings(root, settings);
    cJSON_Delete(settings);
    if (rc) http_reply_error(res, 500);
    else http_reply_empty(res, 200);
}

ROUTE(route_setting_get) {
    char root[PATH_MAX];
    if (user_root(req, root, sizeof root)) { http_reply_error(res, 401); return; }
    cJSON *settings = load_settings(root);
    cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(settings, req->params[0]);
    cJSON_Delete(settings);
    http_reply_json(res, 200, v ? v : cJSON_CreateNull());
}

ROUTE(route_setting_post) {
    char root[PATH_MAX];
    if (user_root(req, root, sizeof root)) { http_reply_error(res, 401); return; }
    cJSON *value = cJSON_ParseWithLength(req->body, req->body_len);
    if (!value) {
        http_reply_text(res, 400, "400: Bad Request\n\nbody is not JSON");
        return;
    }
    cJSON *settings = load_settings(root);
    if (cJSON_GetObjectItemCaseSensitive(settings, req->params[0])) cJSON_ReplaceItemInObjectCaseSensitive(settings, req->params[0], value);
    else cJSON_AddItemToObject(settings, req->params[0], value);
    int rc = save_settings(root, settings);
    cJSON_Delete(settings);
    if (rc) http_reply_error(res, 500);
    else http_reply_empty(res, 200);
}

/* ---- user data ---- */

static int query_flag(const http_request *req, const char *name) {
    char *v = http_query_get(req->query, name);
    int on = v && (!strcmp(v, "true") || !strcmp(v, "1"));
    free(v);
    return on;
}

static cJSON *file_info(const char *rel, const char *path) {
    struct stat st;
    cJSON *o = cJSON_CreateObject();
    if (stat(path, &st)) memset(&st, 0, sizeof st);
    cJSON_AddStringToObject(o, "path", rel);
    cJSON_AddNumberToObject(o, "size", (double)st.st_size);
    cJSON_AddNumberToObject(o, "modified", (double)((long long)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000));
    cJSON_AddNumberToObject(o, "created", (double)((long long)st.st_ctim.tv_sec * 1000 + st.st_ctim.tv_nsec / 1000000));
    return o;
}

typedef struct list_opts {
    int recurse, full_info, split;
} list_opts;

static void list_dir(const char *base, const char *rel, const list_opts *o, int depth, cJSON *out) {
    if (depth > 32) return;
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s%s%s", base, rel[0] ? "/" : "", rel) >= (int)sizeof dir) return;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;     /* glob semantics: hidden names never match */
        char child_rel[PATH_MAX], child[PATH_MAX];
        if (snprintf(child_rel, sizeof child_rel, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >= (int)sizeof child_rel) continue;
        if (snprintf(child, sizeof child, "%s/%s", dir, e->d_name) >= (int)sizeof child) continue;
        struct stat st;
        if (stat(child, &st)) continue;
        if (S_ISDIR(st.st_mode)) {
            if (o->recurse) list_dir(base, child_rel, o, depth + 1, out);
            continue;
        }
        if (o->full_info) {
            cJSON_AddItemToArray(out, file_info(child_rel, child));
        } else if (o->split) {
            cJSON *parts = cJSON_CreateArray();
            cJSON_AddItemToArray(parts, cJSON_CreateString(child_rel));
            char tmp[PATH_MAX];
            snprintf(tmp, sizeof tmp, "%s", child_rel);
            for (char *save, *p = strtok_r(tmp, "/", &save); p; p = strtok_r(NULL, "/", &save))
                cJSON_AddItemToArray(parts, cJSON_CreateString(p));
            cJSON_AddItemToArray(out, parts);
        } else {
            cJSON_AddItemToArray(out, cJSON_CreateString(child_rel));
        }
    }
    closedir(d);
}

ROUTE(route_userdata_list) {
    char root[PATH_MAX], dir[PATH_MAX];
    if (user_root(req, root, sizeof root)) { http_reply_error(res, 500); return; }
    char *d = http_query_get(req->query, "dir");
    if (!d || !d[0]) {
        free(d);
        http_reply_text(res, 400, "Directory not provided");
        return;
    }
    int bad = safepath_join(root, d, dir, sizeof dir);
    free(d);
    if (bad) { http_reply_error(res, 403); return; }
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
        http_reply_text(res, 404, "Directory not found");
        return;
    }
    list_opts o = {query_flag(req, "recurse"), query_flag(req, "full_info"), query_flag(req, "split")};
    cJSON *arr = cJSON_CreateArray();
    list_dir(dir, "", &o, 0, arr);
    http_reply_json(res, 200, arr);
}

/* /v2/userdata: files and directories, recursively, relative to the user root; links
 * are not followed (they could lead out of it). */
static int list_v2_visit(void *ud, const char *rel, const char *name, const struct stat *st) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "path", rel);
    if (S_ISDIR(st->st_mode)) {
        cJSON_AddStringToObject(o, "type", "directory");
        cJSON_AddItemToArray(ud, o);
        return 1;
    }
    cJSON_AddStringToObject(o, "type", "file");
    cJSON_AddNumberToObject(o, "size", (double)st->st_size);
    char t[64];
    http_py_float((double)st->st_mtim.tv_sec + (double)st->st_mtim.tv_nsec / 1e9, t, sizeof t);
    cJSON_AddRawToObject(o, "modified", t);
    cJSON_AddItemToArray(ud, o);
    return 0;
}

static int v2_order(const void *a, const void *b) {
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    int dx = !strcmp(cJSON_GetObjectItemCaseSensitive(x, "type")->valuestring, "directory");
    int dy = !strcmp(cJSON_GetObjectItemCaseSensitive(y, "type")->valuestring, "directory");
    if (dx != dy) return dy - dx;
    return strcasecmp(cJSON_GetObjectItemCaseSensitive(x, "name")->valuestring,
                      cJSON_GetObjectItemCaseSensitive(y, "name")->valuestring);
}

ROUTE(route_userdata_v2) {
    char root[PATH_MAX], dir[PATH_MAX];
    if (user_root(req, root, sizeof root)) { http_reply_error(res, 403); return; }
    char *p = http_query_get(req->query, "path");
    int bad = safepath_join(root, p ? p : "", dir, sizeof dir);
    int sub = p && p[0];
    char prefix[PATH_MAX];
    snprintf(prefix, sizeof prefix, "%s", p ? p : "");
    free(p);
    if (bad) { http_reply_error(res, 400); return; }
    struct stat st;
    if (stat(dir, &st)) {
        if (sub) { http_reply_error(res, 404); return; }
        http_reply_json(res, 200, cJSON_CreateArray());
        return;
    }
    if (!S_ISDIR(st.st_mode)) { http_reply_error(res, 400); return; }
    cJSON *flat = cJSON_CreateArray();
    size_t plen = strlen(prefix);
    while (plen && prefix[plen - 1] == '/') prefix[--plen] = '\0';
    dirwalk(root, prefix, 0, list_v2_visit, flat);
    int n = cJSON_GetArraySize(flat);
    cJSON **items = n ? malloc(sizeof(cJSON *) * (size_t)n) : NULL;
    int k = 0;
    while (flat->child && items) items[k++] = cJSON_DetachItemViaPointer(flat, flat->child);
    if (items) qsort(items, (size_t)k, sizeof *items, v2_order);
    for (int i = 0; i < k; i++) cJSON_AddItemToArray(flat, items[i]);
    free(items);
    http_reply_json(res, 200, flat);
}

/* The file named by the route's parameter i; status to answer when it is unusable. */
static int userdata_path(const http_request *req, int i, char *out, size_t cap) {
    char root[PATH_MAX];
    if (user_root(req, root, sizeof root)) return 500;
    const char *rel = req->params[i];
    if (!rel[0]) return 400;
    if (safepath_join(root, rel, out, cap)) return 403;
    return 0;
}

ROUTE(route_userdata_get) {
    char path[PATH_MAX];
    int status = userdata_path(req, 0, path, sizeof path);
    if (status) { http_reply_error(res, status); return; }
    const char *type = mime_guess(path);
    if (!type || mime_dangerous(type)) type = "application/octet-stream";
    if (http_reply_file(req, res, path, type)) { http_reply_error(res, 404); return; }
    http_set_header(res, "X-Content-Type-Options", "nosniff");
    http_set_header(res, "Content-Disposition", "attachment");
}

static void reply_written(const http_request *req, http_response *res, const char *rel, const char *path) {
    if (query_flag(req, "full_info")) http_reply_json(res, 200, file_info(rel, path));
    else http_reply_json(res, 200, cJSON_CreateString(rel));
}

static int overwrite_allowed(const http_request *req) {
    char *v = http_query_get(req->query, "overwrite");
    int allowed = !v || strcmp(v, "false");
    free(v);
    return allowed;
}

ROUTE(route_userdata_post) {
    char path[PATH_MAX];
    int status = userdata_path(req, 0, path, sizeof path);
    if (status) { http_reply_error(res, status); return; }
    struct stat st;
    if (!overwrite_allowed(req) && !stat(path, &st)) {
        http_reply_text(res, 409, "File already exists");
        return;
    }
    if (parent_dirs(path) || write_atomic(path, req->body, req->body_len)) {
        http_reply_text(res, 400, "Invalid filename. Please avoid special characters like :\\/*?\"<>|");
        return;
    }
    reply_written(req, res, req->params[0], path);
}

ROUTE(route_userdata_delete) {
    char path[PATH_MAX];
    int status = userdata_path(req, 0, path, sizeof path);
    if (status) { http_reply_error(res, status); return; }
    struct stat st;
    if (stat(path, &st) || !S_ISREG(st.st_mode) || unlink(path)) { http_reply_error(res, 404); return; }
    http_reply_empty(res, 204);
}

ROUTE(route_userdata_move) {
    char src[PATH_MAX], dst[PATH_MAX];
    int status = userdata_path(req, 0, src, sizeof src);
    if (!status) status = userdata_path(req, 1, dst, sizeof dst);
    if (status) { http_reply_error(res, status); return; }
    struct stat st;
    if (stat(src, &st)) { http_reply_error(res, 404); return; }
    if (!overwrite_allowed(req) && !stat(dst, &st)) {
        http_reply_text(res, 409, "File already exists");
        return;
    }
    if (parent_dirs(dst) || rename(src, dst)) {
        http_reply_text(res, 400, "Invalid filename. Please avoid special characters like :\\/*?\"<>|");
        return;
    }
    reply_written(req, res, req->params[1], dst);
}
