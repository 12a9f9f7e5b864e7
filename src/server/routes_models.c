/* routes_models.c -- model folders and files: /models, /embeddings, /experiment/models,
 * /view_metadata, /internal/folder_paths, /internal/files.
 *
 * Everything reads base/folders (the same registry the graph's combo lists use), so a
 * file dropped into a model folder shows up on the next request.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/folders.h"
#include "io/ckpt.h"
#include "server/routes.h"
#include "server/safepath.h"

static cJSON *string_array(const str_list *l) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < l->n; i++) cJSON_AddItemToArray(arr, cJSON_CreateString(l->items[i]));
    return arr;
}

/* A float in seconds printed as Python does (1712345678.12). */
static cJSON *py_float(double v) {
    char text[64];
    http_py_float(v, text, sizeof text);
    return cJSON_CreateRaw(text);
}

static double ts_seconds(struct timespec ts) { return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9; }

ROUTE(route_embeddings) {
    (void)req;
    str_list files = {0};
    folders_list("embeddings", &files);
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < files.n; i++) {
        char *dot = strrchr(files.items[i], '.');
        char *slash = strrchr(files.items[i], '/');
        if (dot && (!slash || dot > slash)) *dot = '\0';
        cJSON_AddItemToArray(arr, cJSON_CreateString(files.items[i]));
    }
    str_list_free(&files);
    http_reply_json(res, 200, arr);
}

ROUTE(route_models) {
    (void)req;
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < folders_count(); i++) cJSON_AddItemToArray(arr, cJSON_CreateString(folders_name(i)));
    http_reply_json(res, 200, arr);
}

ROUTE(route_models_folder) {
    str_list files = {0};
    if (folders_find(req->params[0], 0) < 0 || folders_list(req->params[0], &files)) {
        http_reply_empty(res, 404);
        return;
    }
    http_reply_json(res, 200, string_array(&files));
    str_list_free(&files);
}

ROUTE(route_experiment_models) {
    (void)req;
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < folders_count(); i++) {
        const char *name = folders_name(i);
        if (!strcmp(name, "configs") || !strcmp(name, "custom_nodes")) continue;
        cJSON *o = cJSON_CreateObject(), *paths = cJSON_CreateArray();
        cJSON_AddStringToObject(o, "name", name);
        for (int k = 0; k < folders_path_count(i); k++) cJSON_AddItemToArray(paths, cJSON_CreateString(folders_path(i, k)));
        cJSON_AddItemToObject(o, "folders", paths);
        cJSON_AddItemToArray(arr, o);
    }
    http_reply_json(res, 200, arr);
}

/* Recursive model-file listing of one path, hidden entries and .git skipped. */
static void list_models(const char *root, const char *rel, int path_index, int depth, cJSON *out) {
    if (depth > 32) return;
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s%s%s", root, rel[0] ? "/" : "", rel) >= (int)sizeof dir) return;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char child_rel[PATH_MAX], child[PATH_MAX];
        if (snprintf(child_rel, sizeof child_rel, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >= (int)sizeof child_rel) continue;
        if (snprintf(child, sizeof child, "%s/%s", dir, e->d_name) >= (int)sizeof child) continue;
        struct stat st;
        if (stat(child, &st)) continue;
        if (S_ISDIR(st.st_mode)) {
            list_models(root, child_rel, path_index, depth + 1, out);
        } else if (folders_is_model_file(e->d_name)) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", child_rel);
            cJSON_AddNumberToObject(o, "pathIndex", path_index);
            cJSON_AddItemToObject(o, "modified", py_float(ts_seconds(st.st_mtim)));
            cJSON_AddItemToObject(o, "created", py_float(ts_seconds(st.st_ctim)));
            cJSON_AddNumberToObject(o, "size", (double)st.st_size);
            cJSON_AddItemToArray(out, o);
        }
    }
    closedir(d);
}

ROUTE(route_experiment_models_folder) {
    int idx = folders_find(req->params[0], 0);
    if (idx < 0) {
        http_reply_empty(res, 404);
        return;
    }
    cJSON *arr = cJSON_CreateArray();
    for (int k = 0; k < folders_path_count(idx); k++) list_models(folders_path(idx, k), "", k, 0, arr);
    http_reply_json(res, 200, arr);
}

/* The preview image next to a model: <stem>.<ext> or <stem>.preview.<ext>. It is sent
 * as stored (ComfyUI re-encodes to WEBP; browsers show either). */
ROUTE(route_experiment_models_preview) {
    int idx = folders_find(req->params[0], 0);
    char *end;
    long path_index = strtol(req->params[1], &end, 10);
    if (*end || end == req->params[1]) {
        http_reply_error(res, 400);
        return;
    }
    if (idx < 0 || path_index < 0 || path_index >= folders_path_count(idx)) {
        http_reply_error(res, 404);
        return;
    }
    char model[PATH_MAX];
    if (safepath_join(folders_path(idx, (int)path_index), req->params[2], model, sizeof model)) {
        http_reply_error(res, 403);
        return;
    }
    char *dot = strrchr(model, '.'), *slash = strrchr(model, '/');
    if (dot && dot > slash) *dot = '\0';
    static const char *const exts[] = {".webp", ".png", ".jpg", ".jpeg", ".gif", ".preview.webp", ".preview.png",
                                       ".preview.jpg", ".preview.jpeg", ".preview.gif"};
    static const char *const types[] = {"image/webp", "image/png", "image/jpeg", "image/jpeg", "image/gif"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s%s", model, exts[i]);
        if (!http_reply_file(req, res, path, types[i % 5])) return;
    }
    http_reply_error(res, 404);
}

ROUTE(route_view_metadata) {
    char *filename = http_query_get(req->query, "filename");
    size_t n = filename ? strlen(filename) : 0;
    char path[PATH_MAX];
    if (!filename || n < 12 || strcmp(filename + n - 12, ".safetensors") ||
        folders_resolve(req->params[0], filename, path, sizeof path)) {
        free(filename);
        http_reply_empty(res, 404);
        return;
    }
    free(filename);
    char *err = NULL;
    ckpt *c = ckpt_open(path, &err);
    free(err);
    if (!c || ckpt_meta_count(c) == 0) {
        if (c) ckpt_close(c);
        http_reply_empty(res, 404);
        return;
    }
    cJSON *meta = cJSON_CreateObject();
    for (size_t i = 0; i < ckpt_meta_count(c); i++) {
        const char *k, *v;
        ckpt_meta_at(c, i, &k, &v);
        cJSON_AddStringToObject(meta, k, v);
    }
    ckpt_close(c);
    http_reply_json(res, 200, meta);
}

ROUTE(route_internal_folder_paths) {
    (void)req;
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < folders_count(); i++) {
        cJSON *paths = cJSON_CreateArray();
        for (int k = 0; k < folders_path_count(i); k++) cJSON_AddItemToArray(paths, cJSON_CreateString(folders_path(i, k)));
        cJSON_AddItemToObject(o, folders_name(i), paths);
    }
    http_reply_json(res, 200, o);
}

typedef struct named_mtime {
    char *name;
    double mtime;
} named_mtime;

static int by_mtime_desc(const void *a, const void *b) {
    double x = ((const named_mtime *)a)->mtime, y = ((const named_mtime *)b)->mtime;
    return x < y ? 1 : x > y ? -1 : 0;
}

ROUTE(route_internal_files) {
    const char *type = req->params[0], *dir = folders_for_type(type);
    if (!dir) {
        http_reply_json_text(res, 400, strdup("{\"error\": \"Invalid directory type\"}"));
        return;
    }
    named_mtime *items = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[PATH_MAX];
        struct stat st;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path || stat(path, &st) || !S_ISREG(st.st_mode)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            named_mtime *grown = realloc(items, cap * sizeof *items);
            if (!grown) break;
            items = grown;
        }
        items[n].name = strdup(e->d_name);
        items[n].mtime = ts_seconds(st.st_mtim);
        n++;
    }
    if (d) closedir(d);
    if (n) qsort(items, n, sizeof *items, by_mtime_desc);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        char label[PATH_MAX];
        snprintf(label, sizeof label, "%s [%s]", items[i].name, type);
        cJSON_AddItemToArray(arr, cJSON_CreateString(label));
        free(items[i].name);
    }
    free(items);
    http_reply_json(res, 200, arr);
}
