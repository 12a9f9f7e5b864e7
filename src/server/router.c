/* router.c -- the route table and the matcher (see router.h).
 *
 * The table is ComfyUI's route list (spec section 2.0) in one place. "{name}" matches one
 * non-empty segment, "{name...}" the non-empty rest of the path.
 */
#include "server/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/routes.h"

enum { R_ALIAS = 0, R_NO_API = 1 };

typedef struct route {
    const char *method;      /* "*" = any method */
    const char *pattern;
    int flags;
    route_fn fn;
} route;

static const route routes[] = {
    {"GET", "/", R_ALIAS, route_index},
    {"GET", "/ws", R_ALIAS, route_ws},
    {"GET", "/prompt", R_ALIAS, route_prompt_get},
    {"POST", "/prompt", R_ALIAS, route_prompt_post},
    {"GET", "/queue", R_ALIAS, route_queue_get},
    {"POST", "/queue", R_ALIAS, route_queue_post},
    {"POST", "/interrupt", R_ALIAS, route_interrupt},
    {"POST", "/free", R_ALIAS, route_free},
    {"GET", "/history", R_ALIAS, route_history_get},
    {"GET", "/history/{prompt_id}", R_ALIAS, route_history_item},
    {"POST", "/history", R_ALIAS, route_history_post},
    /* Declared with /api by ComfyUI, so they also exist at /api/api/jobs but not /jobs. */
    {"GET", "/api/jobs", R_ALIAS, route_jobs},
    {"POST", "/api/jobs/cancel", R_ALIAS, route_jobs_cancel},
    {"GET", "/api/jobs/{job_id}", R_ALIAS, route_job},
    {"POST", "/api/jobs/{job_id}/cancel", R_ALIAS, route_job_cancel},
    {"GET", "/object_info", R_ALIAS, route_object_info},
    {"GET", "/object_info/{node_class}", R_ALIAS, route_object_info_class},
    {"GET", "/system_stats", R_ALIAS, route_system_stats},
    {"GET", "/features", R_ALIAS, route_features},
    {"GET", "/embeddings", R_ALIAS, route_embeddings},
    {"GET", "/extensions", R_ALIAS, route_extensions},
    {"GET", "/models", R_ALIAS, route_models},
    {"GET", "/models/{folder}", R_ALIAS, route_models_folder},
    {"GET", "/experiment/models", R_ALIAS, route_experiment_models},
    {"GET", "/experiment/models/{folder}", R_ALIAS, route_experiment_models_folder},
    {"GET", "/experiment/models/preview/{folder}/{path_index}/{filename...}", R_ALIAS, route_experiment_models_preview},
    {"GET", "/view_metadata/{folder_name}", R_ALIAS, route_view_metadata},
    {"GET", "/view", R_ALIAS, route_view},
    {"POST", "/upload/image", R_ALIAS, route_upload_image},
    {"POST", "/upload/mask", R_ALIAS, route_upload_mask},
    {"GET", "/users", R_ALIAS, route_users_get},
    {"POST", "/users", R_ALIAS, route_users_post},
    {"GET", "/settings", R_ALIAS, route_settings_get},
    {"POST", "/settings", R_ALIAS, route_settings_post},
    {"GET", "/settings/{id}", R_ALIAS, route_setting_get},
    {"POST", "/settings/{id}", R_ALIAS, route_setting_post},
    {"GET", "/userdata", R_ALIAS, route_userdata_list},
    {"GET", "/v2/userdata", R_ALIAS, route_userdata_v2},
    {"GET", "/userdata/{file}", R_ALIAS, route_userdata_get},
    {"POST", "/userdata/{file}", R_ALIAS, route_userdata_post},
    {"DELETE", "/userdata/{file}", R_ALIAS, route_userdata_delete},
    {"POST", "/userdata/{file}/move/{dest}", R_ALIAS, route_userdata_move},
    {"GET", "/i18n", R_ALIAS, route_i18n},
    {"GET", "/workflow_templates", R_ALIAS, route_workflow_templates},
    {"GET", "/global_subgraphs", R_ALIAS, route_global_subgraphs},
    {"GET", "/global_subgraphs/{id}", R_ALIAS, route_global_subgraph},
    {"GET", "/node_replacements", R_ALIAS, route_node_replacements},
    {"GET", "/internal/logs", R_NO_API, route_internal_logs},
    {"GET", "/internal/logs/raw", R_NO_API, route_internal_logs_raw},
    {"PATCH", "/internal/logs/subscribe", R_NO_API, route_internal_logs_subscribe},
    {"GET", "/internal/folder_paths", R_NO_API, route_internal_folder_paths},
    {"GET", "/internal/files/{directory_type}", R_NO_API, route_internal_files},
    /* The asset database is off (ComfyUI's default): 503 for every method. */
    {"*", "/api/assets", R_NO_API, route_assets_disabled},
    {"*", "/api/assets/{rest...}", R_NO_API, route_assets_disabled},
    {"*", "/api/tags", R_NO_API, route_assets_disabled},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

static void free_params(http_request *req) {
    for (int i = 0; i < req->n_params; i++) free(req->params[i]);
    req->n_params = 0;
}

/* Matches pattern against path; on success the decoded parameters are in req. */
static int match(const char *pattern, const char *path, http_request *req) {
    free_params(req);
    const char *p = pattern, *s = path;
    while (*p) {
        if (*p != '{') {
            if (*p != *s) goto no;
            p++, s++;
            continue;
        }
        const char *close = strchr(p, '}');
        int rest = close - p >= 4 && !strncmp(close - 3, "...", 3);
        const char *end = rest ? s + strlen(s) : s + strcspn(s, "/");
        if (end == s || req->n_params == HTTP_MAX_PARAMS) goto no;
        char *value = http_decode(s, (size_t)(end - s), 0);
        if (!value) goto no;
        req->params[req->n_params++] = value;
        p = close + 1;
        s = end;
    }
    if (*s == '\0') return 1;
no:
    free_params(req);
    return 0;
}

static int route_matches(const route *r, const char *path, http_request *req) {
    if (match(r->pattern, path, req)) return 1;
    return !(r->flags & R_NO_API) && !strncmp(path, "/api/", 5) && match(r->pattern, path + 4, req);
}

void router_dispatch(http_request *req, http_response *res) {
    char allow[128] = "";
    for (size_t i = 0; i < N_ROUTES; i++) {
        const route *r = &routes[i];
        if (!route_matches(r, req->path, req)) continue;
        if (!strcmp(r->method, "*") || !strcmp(r->method, req->method)) {
            r->fn(req, res);
            free_params(req);
            return;
        }
        if (!strstr(allow, r->method)) {
            size_t n = strlen(allow);
            snprintf(allow + n, sizeof allow - n, "%s%s", n ? ", " : "", r->method);
            if (!strcmp(r->method, "GET")) {
                n = strlen(allow);
                snprintf(allow + n, sizeof allow - n, ", HEAD");
            }
        }
        free_params(req);
    }
    if (allow[0]) {
        http_reply_error(res, 405);
        http_set_header(res, "Allow", allow);
        return;
    }
    if (!strcmp(req->method, "GET")) {
        route_static(req, res);
        return;
    }
    http_reply_error(res, 404);
}
