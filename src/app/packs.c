/* packs.c -- registers the built-in node packs and loads external ones.
 *
 * The graph layer never includes a pack; this file is the one place that knows them.
 * External packs are opened with dlopen() in name order (so registration order, and
 * with it /object_info order, is stable) and keep RTLD_LOCAL symbols to themselves.
 */
#include "app/packs.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "comfyui_ipex/node.h"
#include "../../nodes/core/core.h"
#include "../../nodes/sd/sd.h"

extern const ci_host graph_host;

static const char *nodes_dir;

void app_set_nodes_dir(const char *dir) { nodes_dir = dir; }

static int by_name(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_so(const struct dirent *d) {
    size_t n = strlen(d->d_name);
    return n > 3 && !strcmp(d->d_name + n - 3, ".so");
}

static void load_external(const char *dir) {
    struct dirent **list;
    int n = scandir(dir, &list, is_so, by_name);
    if (n < 0) { log_warn("packs: cannot read nodes directory %s", dir); return; }
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        ci_pack_init_fn init = h ? (ci_pack_init_fn)(uintptr_t)dlsym(h, "ci_pack_init") : NULL;
        if (!init) log_error("packs: %s: %s", path, h ? "no ci_pack_init" : dlerror());
        else if (init(&graph_host) != 0) log_error("packs: %s: ci_pack_init failed", path);
        else log_info("packs: loaded %s", path);
        if (h && !init) dlclose(h);
        free(list[i]);
    }
    free(list);
}

int app_register_packs(void) {
    if (core_pack_init(&graph_host) != 0 || sd_pack_init(&graph_host) != 0) {
        log_error("packs: a built-in node pack failed to register");
        return -1;
    }
    const char *dir = nodes_dir ? nodes_dir : getenv("COMFYUI_IPEX_NODES_DIR");
    if (dir && *dir) load_external(dir);
    return 0;
}
