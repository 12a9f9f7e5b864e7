/* main.c -- the comfyui-ipex daemon: settings, folders, compute engine, graph, server.
 *
 * Start-up runs bottom-up (folders, backend, node packs, graph worker, HTTP server) and
 * tells systemd READY=1 only once the sockets listen. Signals are blocked in every
 * thread and taken synchronously here with sigtimedwait, which also paces the
 * WATCHDOG=1 pings when the unit asks for them. SIGTERM/SIGINT stop the server first
 * (no new requests), then the graph (the running prompt is interrupted and joined),
 * then the engine, and exit 0.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "app/config.h"
#include "app/packs.h"
#include "app/synthetic.h"
#include "backend/backend.h"
#include "base/folders.h"
#include "base/log.h"
#include "graph/api.h"
#include "models/model_cache.h"
#include "server/logbuf.h"
#include "server/server.h"
#include "server/ws_hub.h"

/* The bundled UI next to the binary (a build tree) or in the installed data folder. */
static void default_front_end(app_config *cfg) {
    if (cfg->front_end_root[0]) return;
    char exe[PATH_MAX], cand[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    const char *dirs[2] = {NULL, CI_DATADIR "/ui"};
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        snprintf(cand, sizeof cand, "%s/../ui/dist", exe);
        dirs[0] = cand;
    }
    for (int i = 0; i < 2; i++) {
        char index[PATH_MAX + 64];
        struct stat st;
        if (!dirs[i]) continue;
        snprintf(index, sizeof index, "%s/index.html", dirs[i]);
        if (!stat(index, &st) && realpath(dirs[i], exe) && strlen(exe) < sizeof cfg->front_end_root) {
            memcpy(cfg->front_end_root, exe, strlen(exe) + 1);
            return;
        }
    }
}

static int check_folders(const app_config *cfg) {
    struct stat st;
    if (cfg->front_end_root[0] && (stat(cfg->front_end_root, &st) || !S_ISDIR(st.st_mode))) {
        fprintf(stderr, "comfyui-ipex: error: --front-end-root '%s' is not a directory\n", cfg->front_end_root);
        return -1;
    }
    return 0;
}

static void log_startup(const app_config *cfg) {
    static const char *const accel[] = {"auto", "cpu", "xpu"}, *const prec[] = {"fp32", "fp16", "bf16", "int8"};
    log_info("comfyui-ipex %s starting (acceleration %s, opt-level O%d, precision %s, %s)", CI_VERSION,
             accel[cfg->backend.accel], (int)cfg->backend.opt, prec[cfg->backend.prec], cfg->backend.jit ? "jit" : "no-jit");
    for (int i = 0; i < cfg->n_ignored; i++) log_info("%s is accepted for ComfyUI compatibility and has no effect", cfg->ignored[i]);
    log_info("base %s, input %s, output %s, temp %s, user %s", folders_base(), folders_input(), folders_output(),
             folders_temp(), folders_user());
}

/* Level Zero discovery logs what it finds (or "no Intel GPU found, using CPU"); the
 * engine logs oneDNN's version and ISA. */
static int start_engine(const app_config *cfg) {
    backend_device devs[16];
    backend_discover(devs, 16);
    char err[512] = "";
    if (backend_init(&cfg->backend, err, sizeof err)) {
        log_error("%s", err[0] ? err : "cannot start the compute engine");
        return -1;
    }
    return 0;
}

static int start_graph(const app_config *cfg) {
    graph_config g = {
        .output_dir = folders_output(),
        .input_dir = folders_input(),
        .temp_dir = folders_temp(),
        .max_history = cfg->max_history,
        .disable_metadata = cfg->disable_metadata,
        .preview_method = cfg->preview_method,
        .preview_size = cfg->preview_size,
        .cache_mode = cfg->cache_mode,
        .cache_lru = cfg->cache_lru,
    };
    mc_set_budget((size_t)cfg->cache_size_mb << 20);
    if (app_register_packs()) {
        log_error("cannot register the built-in node packs");
        return -1;
    }
    graph_set_event_sink(ws_hub_event, NULL);
    if (graph_start(&g)) {
        log_error("cannot start the graph worker");
        return -1;
    }
    return 0;
}

static int start_server(const app_config *cfg) {
    static const char *flags[CFG_MAX_LIST];
    for (int i = 0; i < cfg->n_feature_flags; i++) flags[i] = cfg->feature_flags[i];
    static server_options so;
    so = (server_options){
        .listen = cfg->listen, .port = cfg->port,
        .tls_key_file = cfg->tls_keyfile, .tls_cert_file = cfg->tls_certfile,
        .cors_origin = cfg->cors_origin, .max_upload_mb = cfg->max_upload_mb,
        .max_upload_given = cfg->max_upload_given, .multi_user = cfg->multi_user,
        .disable_api_nodes = cfg->disable_api_nodes, .front_end_root = cfg->front_end_root,
        .feature_flags = flags, .n_feature_flags = cfg->n_feature_flags, .hash_name = cfg->default_hash,
        .argc = cfg->argc, .argv = cfg->argv,
    };
    char err[512] = "";
    if (server_start(&so, err, sizeof err)) {
        log_error("%s", err);
        return -1;
    }
    log_info("To see the GUI go to: %s", server_describe());
    return 0;
}

/* Waits for SIGTERM/SIGINT, pinging the systemd watchdog at half its interval. */
static int wait_for_stop(const sigset_t *set) {
    uint64_t wd_usec = 0;
    int watchdog = sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0;
    for (;;) {
        struct timespec ts = {.tv_sec = 3600};
        if (watchdog) {
            uint64_t half = wd_usec / 2;
            ts.tv_sec = (time_t)(half / 1000000);
            ts.tv_nsec = (long)(half % 1000000) * 1000;
            sd_notify(0, "WATCHDOG=1");
        }
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) return sig;
        if (sig < 0 && errno != EAGAIN && errno != EINTR) return -1;
    }
}

int main(int argc, char **argv) {
    app_config cfg;
    config_defaults(&cfg);
    char err[512] = "";
    cfg_result r = config_parse(&cfg, argc, argv, stdout, err, sizeof err);
    if (r == CFG_EXIT_OK) return 0;
    if (r == CFG_ERROR) {
        fprintf(stderr, "usage: comfyui-ipex [options] (see --help)\ncomfyui-ipex: error: %s\n", err);
        return 2;
    }
    log_set_level((log_level)cfg.verbose);
    default_front_end(&cfg);
    if (check_folders(&cfg)) return 2;

    /* Every thread started from here on inherits the blocked set. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    logbuf_start();

    const char *extra[CFG_MAX_LIST];
    for (int i = 0; i < cfg.n_extra_model_paths; i++) extra[i] = cfg.extra_model_paths[i];
    folders_config fc = {cfg.base_dir, cfg.output_dir, cfg.input_dir, cfg.temp_dir, cfg.user_dir, extra,
                         cfg.n_extra_model_paths, cfg.tokenizer_dir,
                         cfg.no_download ? NULL : cfg.tokenizer_url};
    if (folders_init(&fc, err, sizeof err)) {
        log_error("%s", err);
        logbuf_stop();
        return 1;
    }
    log_startup(&cfg);
    int rc = 1;
    if (cfg.synthetic_default) synthetic_default_ensure();
    sd_notify(0, "STATUS=Starting the compute engine");
    if (start_engine(&cfg)) goto out_folders;
    sd_notify(0, "STATUS=Starting the graph worker");
    if (start_graph(&cfg)) goto out_engine;
    if (start_server(&cfg)) goto out_graph;

    char status[1200];
    snprintf(status, sizeof status, "READY=1\nSTATUS=Listening on %s", server_describe());
    sd_notify(0, status);
    int sig = cfg.quick_test ? 0 : wait_for_stop(&set);
    log_info("%s, shutting down", sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "quick test done");
    sd_notify(0, "STOPPING=1\nSTATUS=Shutting down");
    server_stop();
    rc = 0;
out_graph:
    graph_stop();
out_engine:
    backend_shutdown();
out_folders:
    folders_shutdown();
    logbuf_stop();
    return rc;
}
