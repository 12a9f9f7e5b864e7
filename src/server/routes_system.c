/* routes_system.c -- /system_stats, /features and the small fixed-answer routes.
 *
 * /system_stats has ComfyUI's exact shape with real figures: RAM from /proc/meminfo,
 * devices from the backend (Level Zero GPUs when the xpu engine runs, else the CPU with
 * its model name). Routes that list custom-node content (/i18n, /workflow_templates,
 * /global_subgraphs, /node_replacements, /extensions) answer empty: there are no Python
 * custom nodes here, and ComfyUI answers the same without them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "server/features.h"
#include "server/logbuf.h"
#include "server/routes.h"
#include "server/server.h"
#include "server/ws_hub.h"

/* The ComfyUI release whose API this server speaks, and the frontend it expects. */
#define COMFYUI_API_VERSION "0.27.0"
#define FRONTEND_VERSION "1.45.20"

static void meminfo(uint64_t *total, uint64_t *available) {
    *total = *available = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return;
    char line[256];
    unsigned long long kb;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) *total = kb * 1024;
        else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) *available = kb * 1024;
    }
    fclose(f);
}

static void cpu_model(char *out, size_t cap) {
    snprintf(out, cap, "cpu");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10)) continue;
        const char *v = strchr(line, ':');
        if (!v) break;
        v++;
        while (*v == ' ') v++;
        snprintf(out, cap, "cpu %.*s", (int)strcspn(v, "\n"), v);
        break;
    }
    fclose(f);
}

static cJSON *device_json(const char *name, const char *type, int index, uint64_t total, uint64_t free_,
                          uint64_t torch_total, uint64_t torch_free) {
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "name", name);
    cJSON_AddStringToObject(d, "type", type);
    if (index < 0) cJSON_AddNullToObject(d, "index");
    else cJSON_AddNumberToObject(d, "index", index);
    cJSON_AddNumberToObject(d, "vram_total", (double)total);
    cJSON_AddNumberToObject(d, "vram_free", (double)free_);
    cJSON_AddNumberToObject(d, "torch_vram_total", (double)torch_total);
    cJSON_AddNumberToObject(d, "torch_vram_free", (double)torch_free);
    return d;
}

static cJSON *devices_json(uint64_t ram_total, uint64_t ram_free) {
    cJSON *arr = cJSON_CreateArray();
    const char *engine = backend_engine_name();
    if (engine && !strcmp(engine, "xpu")) {
        backend_device devs[16];
        int n = backend_discover(devs, 16);
        uint64_t reserved = backend_bytes_reserved(), used = backend_bytes_in_use();
        for (int i = 0; i < n; i++) {
            char name[300];
            if (snprintf(name, sizeof name, "xpu:%d %s", devs[i].index, devs[i].name) >= (int)sizeof name) name[sizeof name - 1] = '\0';
            cJSON_AddItemToArray(arr, device_json(name, "xpu", devs[i].index, devs[i].vram_total, devs[i].vram_free,
                                                  i == 0 ? reserved : 0, i == 0 ? reserved - used : 0));
        }
        if (n > 0) return arr;
    }
    /* ComfyUI's CPU device reports RAM for both the device and the framework figures. */
    char name[300];
    cpu_model(name, sizeof name);
    cJSON_AddItemToArray(arr, device_json(name, "cpu", -1, ram_total, ram_free, ram_total, ram_free));
    return arr;
}

/* argv as ComfyUI reports it; Manager flags are left out so the frontend does not offer
 * a Manager this server does not have. */
static cJSON *argv_json(void) {
    const server_options *o = server_opts();
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < o->argc; i++) {
        if (!strncmp(o->argv[i], "--enable-manager", 16)) continue;
        cJSON_AddItemToArray(arr, cJSON_CreateString(o->argv[i]));
    }
    return arr;
}

ROUTE(route_system_stats) {
    (void)req;
    uint64_t total, avail;
    meminfo(&total, &avail);
    cJSON *root = cJSON_CreateObject(), *sys = cJSON_AddObjectToObject(root, "system");
    cJSON_AddStringToObject(sys, "os", "linux");
    cJSON_AddNumberToObject(sys, "ram_total", (double)total);
    cJSON_AddNumberToObject(sys, "ram_free", (double)avail);
    cJSON_AddStringToObject(sys, "comfyui_version", COMFYUI_API_VERSION);
    cJSON_AddStringToObject(sys, "required_frontend_version", FRONTEND_VERSION);
    cJSON_AddNullToObject(sys, "installed_templates_version");
    cJSON_AddNullToObject(sys, "required_templates_version");
    cJSON_AddArrayToObject(sys, "comfy_package_versions");
    char py[128], torch[128];
    snprintf(py, sizeof py, "comfyui-ipex %s (C11, no Python)", CI_VERSION);
    snprintf(torch, sizeof torch, "oneDNN %s (%s engine, %s)", backend_onednn_version(), backend_engine_name(), backend_isa());
    cJSON_AddStringToObject(sys, "python_version", py);
    cJSON_AddStringToObject(sys, "pytorch_version", torch);
    cJSON_AddFalseToObject(sys, "embedded_python");
    cJSON_AddStringToObject(sys, "deploy_environment", "comfyui-ipex");
    cJSON_AddItemToObject(sys, "argv", argv_json());
    cJSON_AddStringToObject(sys, "comfyui_ipex_version", CI_VERSION);
    cJSON_AddItemToObject(root, "devices", devices_json(total, avail));
    http_reply_json(res, 200, root);
}

/* --feature-flag KEY[=VALUE]: strings, except the two registered boolean keys. */
static void add_cli_flag(cJSON *obj, const char *spec) {
    char key[256];
    const char *eq = strchr(spec, '=');
    snprintf(key, sizeof key, "%.*s", eq ? (int)(eq - spec) : (int)strlen(spec), spec);
    const char *value = eq ? eq + 1 : "true";
    if (!key[0] || cJSON_GetObjectItemCaseSensitive(obj, key)) return;
    if (!strcmp(key, "show_signin_button") || !strcmp(key, "enable_telemetry")) {
        if (!strcmp(value, "true") || !strcmp(value, "false")) cJSON_AddBoolToObject(obj, key, !strcmp(value, "true"));
        return;
    }
    cJSON_AddStringToObject(obj, key, value);
}

cJSON *features_object(void) {
    const server_options *o = server_opts();
    cJSON *f = cJSON_CreateObject();
    cJSON_AddTrueToObject(f, "supports_preview_metadata");
    double bytes = o->max_upload_mb * 1048576.0;
    /* ComfyUI prints 104857600 for the default and a float once the flag was given. */
    if (o->max_upload_given) {
        char text[64];
        http_py_float(bytes, text, sizeof text);
        cJSON_AddRawToObject(f, "max_upload_size", text);
    } else {
        cJSON_AddNumberToObject(f, "max_upload_size", bytes);
    }
    cJSON *ext = cJSON_AddObjectToObject(f, "extension"), *mgr = cJSON_AddObjectToObject(ext, "manager");
    cJSON_AddTrueToObject(mgr, "supports_v4");
    cJSON_AddTrueToObject(f, "node_replacements");
    cJSON_AddFalseToObject(f, "assets");
    for (int i = 0; i < o->n_feature_flags; i++) add_cli_flag(f, o->feature_flags[i]);
    return f;
}

ROUTE(route_features) {
    (void)req;
    http_reply_json(res, 200, features_object());
}

static void reply_raw_json(http_response *res, const char *json) {
    char *copy = strdup(json);
    if (!copy) http_reply_error(res, 500);
    else http_reply_json_text(res, 200, copy);
}

ROUTE(route_extensions) { (void)req; reply_raw_json(res, "[]"); }
ROUTE(route_i18n) { (void)req; reply_raw_json(res, "{}"); }
ROUTE(route_workflow_templates) { (void)req; reply_raw_json(res, "{}"); }
ROUTE(route_global_subgraphs) { (void)req; reply_raw_json(res, "{}"); }
ROUTE(route_global_subgraph) { (void)req; reply_raw_json(res, "null"); }
ROUTE(route_node_replacements) { (void)req; reply_raw_json(res, "{}"); }

ROUTE(route_assets_disabled) {
    (void)req;
    reply_raw_json(res, "{\"error\": {\"code\": \"SERVICE_DISABLED\", \"message\": \"Assets system is disabled. "
                        "Start the server with --enable-assets to use this feature.\", \"details\": {}}}");
    res->status = 503;
}

ROUTE(route_internal_logs) {
    (void)req;
    char *text = logbuf_text();
    cJSON *s = cJSON_CreateString(text ? text : "");
    free(text);
    http_reply_json(res, 200, s);
}

ROUTE(route_internal_logs_raw) {
    (void)req;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "entries", logbuf_entries());
    cJSON *size = cJSON_AddObjectToObject(root, "size");
    cJSON_AddNumberToObject(size, "cols", 80);
    cJSON_AddNumberToObject(size, "rows", 24);
    http_reply_json(res, 200, root);
}

ROUTE(route_internal_logs_subscribe) {
    cJSON *body = cJSON_ParseWithLength(req->body, req->body_len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "clientId");
    const cJSON *enabled = cJSON_GetObjectItemCaseSensitive(body, "enabled");
    if (!cJSON_IsString(id)) {
        cJSON_Delete(body);
        http_reply_error(res, 400);
        return;
    }
    ws_hub_subscribe_logs(id->valuestring, cJSON_IsTrue(enabled));
    cJSON_Delete(body);
    http_reply_empty(res, 200);
}
