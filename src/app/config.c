/* config.c -- option table, command line and --config JSON parsing (see config.h).
 *
 * Parsing follows argparse where ComfyUI users would notice: "--flag value" and
 * "--flag=value", optional values (--listen, --enable-cors-header, --verbose) taken only
 * when the next word does not start with "-", and lists (--extra-model-paths-config A B)
 * running to the next flag. Anything unknown or malformed is an error (exit 2).
 */
#include "app/config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "models/tokenizer_bpe.h"

typedef enum { ARG_NONE, ARG_ONE, ARG_OPT, ARG_MANY } opt_arity;

/* A setter gets the value text (NULL for a bare flag) and reports problems in err. */
typedef int (*opt_setter)(app_config *cfg, const char *v, char *err, size_t errlen);

typedef struct option_def {
    const char *name;        /* without the leading "--" */
    opt_arity arity;
    const char *implicit;    /* ARG_OPT: the value when the flag is given bare */
    opt_setter set;
    const char *metavar;
    const char *help;        /* NULL: accepted for ComfyUI compatibility, no effect */
} option_def;

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int copy_str(char *dst, size_t cap, const char *v, const char *what, char *err, size_t errlen) {
    if (!v || strlen(v) >= cap) return fail(err, errlen, "argument --%s: value too long", what);
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

/* Bare flags are true; from JSON they may be "true"/"false". */
static int flag_true(const char *v) { return !v || !strcmp(v, "true") || !strcmp(v, "1"); }

static int parse_int(const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi) return -1;
    *out = n;
    return 0;
}

static int pick(const char *v, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(v, names[i])) return i;
    return -1;
}

static int bad_choice(const char *opt, const char *v, const char *choices, char *err, size_t errlen) {
    return fail(err, errlen, "argument --%s: invalid choice: '%s' (choose from %s)", opt, v, choices);
}

#define SETTER(fn) static int fn(app_config *cfg, const char *v, char *err, size_t errlen)

SETTER(set_listen) { return copy_str(cfg->listen, sizeof cfg->listen, v, "listen", err, errlen); }
SETTER(set_port) {
    long n;
    if (parse_int(v, 0, 65535, &n)) return fail(err, errlen, "argument --port: invalid int value: '%s'", v);
    cfg->port = (int)n;
    return 0;
}
SETTER(set_tls_key) { return copy_str(cfg->tls_keyfile, sizeof cfg->tls_keyfile, v, "tls-keyfile", err, errlen); }
SETTER(set_tls_cert) { return copy_str(cfg->tls_certfile, sizeof cfg->tls_certfile, v, "tls-certfile", err, errlen); }
SETTER(set_cors) { return copy_str(cfg->cors_origin, sizeof cfg->cors_origin, v, "enable-cors-header", err, errlen); }
SETTER(set_max_upload) {
    char *end;
    double mb = strtod(v, &end);
    if (end == v || *end || !(mb > 0) || mb > 1e6)
        return fail(err, errlen, "argument --max-upload-size: invalid float value: '%s'", v);
    cfg->max_upload_mb = mb;
    cfg->max_upload_given = 1;
    return 0;
}
SETTER(set_multi_user) { (void)err, (void)errlen; cfg->multi_user = flag_true(v); return 0; }
SETTER(set_compress) { (void)err, (void)errlen; cfg->enable_compress = flag_true(v); return 0; }
SETTER(set_disable_api_nodes) { (void)err, (void)errlen; cfg->disable_api_nodes = flag_true(v); return 0; }
SETTER(set_base) { return copy_str(cfg->base_dir, sizeof cfg->base_dir, v, "base-directory", err, errlen); }
SETTER(set_output) { return copy_str(cfg->output_dir, sizeof cfg->output_dir, v, "output-directory", err, errlen); }
SETTER(set_input) { return copy_str(cfg->input_dir, sizeof cfg->input_dir, v, "input-directory", err, errlen); }
SETTER(set_temp) { return copy_str(cfg->temp_dir, sizeof cfg->temp_dir, v, "temp-directory", err, errlen); }
SETTER(set_user) { return copy_str(cfg->user_dir, sizeof cfg->user_dir, v, "user-directory", err, errlen); }
SETTER(set_front_end) { return copy_str(cfg->front_end_root, sizeof cfg->front_end_root, v, "front-end-root", err, errlen); }
SETTER(set_tokenizer) { return copy_str(cfg->tokenizer_dir, sizeof cfg->tokenizer_dir, v, "tokenizer-dir", err, errlen); }
SETTER(set_tokenizer_url) { return copy_str(cfg->tokenizer_url, sizeof cfg->tokenizer_url, v, "tokenizer-url", err, errlen); }
SETTER(set_no_download) { (void)err, (void)errlen; cfg->no_download = flag_true(v); return 0; }
SETTER(set_synthetic_default) { (void)err, (void)errlen; cfg->synthetic_default = flag_true(v); return 0; }
SETTER(set_quick_test) { (void)err, (void)errlen; cfg->quick_test = flag_true(v); return 0; }
SETTER(set_extra_paths) {
    if (cfg->n_extra_model_paths >= CFG_MAX_LIST)
        return fail(err, errlen, "argument --extra-model-paths-config: at most %d files", CFG_MAX_LIST);
    char *dst = cfg->extra_model_paths[cfg->n_extra_model_paths];
    if (copy_str(dst, sizeof cfg->extra_model_paths[0], v, "extra-model-paths-config", err, errlen)) return -1;
    cfg->n_extra_model_paths++;
    return 0;
}
SETTER(set_feature_flag) {
    if (cfg->n_feature_flags >= CFG_MAX_LIST)
        return fail(err, errlen, "argument --feature-flag: at most %d flags", CFG_MAX_LIST);
    char *dst = cfg->feature_flags[cfg->n_feature_flags];
    if (copy_str(dst, sizeof cfg->feature_flags[0], v, "feature-flag", err, errlen)) return -1;
    cfg->n_feature_flags++;
    return 0;
}

static const char *const preview_names[] = {"none", "latent2rgb", "taesd", "auto"};
const char *config_preview_method_name(int method) {
    return method >= 0 && method < 4 ? preview_names[method] : "none";
}
SETTER(set_preview) {
    int i = pick(v, preview_names, 4);
    if (i < 0) return bad_choice("preview-method", v, "'none', 'auto', 'latent2rgb', 'taesd'", err, errlen);
    cfg->preview_method = i;
    return 0;
}
SETTER(set_preview_size) {
    long n;
    if (parse_int(v, 1, 16384, &n)) return fail(err, errlen, "argument --preview-size: invalid int value: '%s'", v);
    cfg->preview_size = (int)n;
    return 0;
}
SETTER(set_disable_metadata) { (void)err, (void)errlen; cfg->disable_metadata = flag_true(v); return 0; }
SETTER(set_cpu) {
    (void)err, (void)errlen;
    cfg->cpu = flag_true(v);
    if (cfg->cpu) cfg->backend.accel = ACCEL_CPU;
    return 0;
}
SETTER(set_verbose) {
    static const char *const names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};
    static const int levels[] = {LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR, LOG_LVL_ERROR};
    int i = pick(v, names, 5);
    if (i < 0) return bad_choice("verbose", v, "'DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'", err, errlen);
    cfg->verbose = levels[i];
    return 0;
}
SETTER(set_hash) {
    static const char *const names[] = {"md5", "sha1", "sha256", "sha512"};
    if (pick(v, names, 4) < 0) return bad_choice("default-hashing-function", v, "'md5', 'sha1', 'sha256', 'sha512'", err, errlen);
    return copy_str(cfg->default_hash, sizeof cfg->default_hash, v, "default-hashing-function", err, errlen);
}
/* The four cache flags exclude each other, as in ComfyUI's argparse group. */
static int set_cache(app_config *cfg, const char *flag, int mode, int lru, char *err, size_t errlen) {
    if (cfg->cache_flag[0] && strcmp(cfg->cache_flag, flag))
        return fail(err, errlen, "argument --%s: not allowed with argument --%s", flag, cfg->cache_flag);
    snprintf(cfg->cache_flag, sizeof cfg->cache_flag, "%s", flag);
    cfg->cache_mode = mode;
    cfg->cache_lru = lru;
    return 0;
}
SETTER(set_cache_ram) {
    char *end;
    if (v && (strtod(v, &end) < 0 || end == v || *end))
        return fail(err, errlen, "argument --cache-ram: invalid float value: '%s'", v);
    return set_cache(cfg, "cache-ram", GRAPH_CACHE_DEFAULT, 0, err, errlen);
}
SETTER(set_cache_lru) {
    long n;
    if (parse_int(v, 0, 1 << 30, &n)) return fail(err, errlen, "argument --cache-lru: invalid int value: '%s'", v);
    return set_cache(cfg, "cache-lru", n ? GRAPH_CACHE_LRU : GRAPH_CACHE_DEFAULT, (int)n, err, errlen);
}
SETTER(set_cache_classic) {
    return flag_true(v) ? set_cache(cfg, "cache-classic", GRAPH_CACHE_CLASSIC, 0, err, errlen) : 0;
}
SETTER(set_cache_none) {
    return flag_true(v) ? set_cache(cfg, "cache-none", GRAPH_CACHE_NONE, 0, err, errlen) : 0;
}
SETTER(set_cache_size) {
    long n;
    if (parse_int(v, 0, 1L << 30, &n)) return fail(err, errlen, "argument --cache-size: invalid int value: '%s'", v);
    cfg->cache_size_mb = n;
    return 0;
}
SETTER(set_max_history) {
    long n;
    if (parse_int(v, 1, 1000000, &n)) return fail(err, errlen, "argument --max-history: invalid int value: '%s'", v);
    cfg->max_history = (int)n;
    return 0;
}
SETTER(set_accel) {
    static const char *const names[] = {"auto", "cpu", "xpu"};
    int i = pick(v, names, 3);
    if (i < 0) return bad_choice("acceleration", v, "'auto', 'cpu', 'xpu'", err, errlen);
    cfg->backend.accel = (accel_mode)i;
    return 0;
}
SETTER(set_opt) {
    static const char *const names[] = {"O0", "O1", "O2", "O3"};
    int i = pick(v, names, 4);
    if (i < 0) return bad_choice("opt-level", v, "'O0', 'O1', 'O2', 'O3'", err, errlen);
    cfg->backend.opt = (opt_level)i;
    return 0;
}
SETTER(set_precision) {
    static const char *const names[] = {"fp32", "fp16", "bf16", "int8"};
    int i = pick(v, names, 4);
    if (i < 0) return bad_choice("precision", v, "'fp32', 'fp16', 'bf16', 'int8'", err, errlen);
    cfg->backend.prec = (precision)i;
    return 0;
}
SETTER(set_threads) {
    long n;
    if (parse_int(v, 0, 4096, &n)) return fail(err, errlen, "argument --threads: invalid int value: '%s'", v);
    cfg->backend.threads = (int)n;
    return 0;
}
SETTER(set_jit) { (void)err, (void)errlen; cfg->backend.jit = flag_true(v); return 0; }
SETTER(set_no_jit) { (void)err, (void)errlen; cfg->backend.jit = !flag_true(v); return 0; }
SETTER(set_config) { return copy_str(cfg->config_file, sizeof cfg->config_file, v, "config", err, errlen); }

/* The name of the ignored flag is recorded by the caller; the setter only accepts. */
SETTER(set_ignored) { (void)cfg, (void)v, (void)err, (void)errlen; return 0; }

static const option_def options[] = {
    {"listen", ARG_OPT, "0.0.0.0,::", set_listen, "IP[,IP...]", "addresses to listen on (default 127.0.0.1; bare: 0.0.0.0,::)"},
    {"port", ARG_ONE, NULL, set_port, "PORT", "port (default 8188)"},
    {"tls-keyfile", ARG_ONE, NULL, set_tls_key, "FILE", "TLS key (with --tls-certfile: https/wss)"},
    {"tls-certfile", ARG_ONE, NULL, set_tls_cert, "FILE", "TLS certificate"},
    {"enable-cors-header", ARG_OPT, "*", set_cors, "[ORIGIN]", "send CORS headers for ORIGIN (bare: *) instead of the same-origin guard"},
    {"max-upload-size", ARG_ONE, NULL, set_max_upload, "MB", "largest request body in MB (default 100)"},
    {"base-directory", ARG_ONE, NULL, set_base, "DIR", "root of models, input, output, temp, user (default .)"},
    {"output-directory", ARG_ONE, NULL, set_output, "DIR", "output folder (default <base>/output)"},
    {"input-directory", ARG_ONE, NULL, set_input, "DIR", "input folder (default <base>/input)"},
    {"temp-directory", ARG_ONE, NULL, set_temp, "DIR", "temp folder is DIR/temp (default <base>/temp)"},
    {"user-directory", ARG_ONE, NULL, set_user, "DIR", "user folder (default <base>/user)"},
    {"extra-model-paths-config", ARG_MANY, NULL, set_extra_paths, "FILE...", "extra model folders (ComfyUI's extra_model_paths.yaml format)"},
    {"front-end-root", ARG_ONE, NULL, set_front_end, "DIR", "serve this frontend build at /"},
    {"tokenizer-dir", ARG_ONE, NULL, set_tokenizer, "DIR", "CLIP tokenizer folder (default: the installed sd1 tokenizer)"},
    {"tokenizer-url", ARG_ONE, NULL, set_tokenizer_url, "URL", "download the sd1 tokenizer from URL/vocab.json and URL/merges.txt when none is found (default: Hugging Face openai/clip-vit-large-patch14)"},
    {"no-download", ARG_NONE, NULL, set_no_download, NULL, "never download anything (a missing tokenizer is an error)"},
    {"synthetic-default", ARG_NONE, NULL, set_synthetic_default, NULL, "with no checkpoint in models/checkpoints, write the synthetic SD1.5 one there at start (noise by design)"},
    {"quick-test-for-ci", ARG_NONE, NULL, set_quick_test, NULL, "start everything, then exit 0"},
    {"preview-method", ARG_ONE, NULL, set_preview, "METHOD", "live previews: none|auto|latent2rgb|taesd (default none)"},
    {"preview-size", ARG_ONE, NULL, set_preview_size, "N", "largest preview edge (default 512)"},
    {"disable-metadata", ARG_NONE, NULL, set_disable_metadata, NULL, "no prompt/workflow text chunks in saved PNGs"},
    {"multi-user", ARG_NONE, NULL, set_multi_user, NULL, "per-user storage selected by the Comfy-User header"},
    {"enable-compress-response-body", ARG_NONE, NULL, set_compress, NULL, "accepted; responses are sent uncompressed"},
    {"disable-api-nodes", ARG_NONE, NULL, set_disable_api_nodes, NULL, "send ComfyUI's restrictive Content-Security-Policy"},
    {"default-hashing-function", ARG_ONE, NULL, set_hash, "HASH", "upload de-duplication hash: md5|sha1|sha256|sha512"},
    {"feature-flag", ARG_ONE, NULL, set_feature_flag, "KEY[=VALUE]", "extra server feature flag (repeatable)"},
    {"cpu", ARG_NONE, NULL, set_cpu, NULL, "run on the CPU (same as --acceleration cpu)"},
    {"verbose", ARG_OPT, "DEBUG", set_verbose, "[LEVEL]", "log level DEBUG|INFO|WARNING|ERROR (bare: DEBUG)"},
    {"acceleration", ARG_ONE, NULL, set_accel, "MODE", "auto|cpu|xpu (default auto: an Intel GPU if Level Zero finds one)"},
    {"opt-level", ARG_ONE, NULL, set_opt, "LEVEL", "O0|O1|O2|O3 (default O3, the fastest; every level matches ComfyUI's fp32 numbers within the conformance bounds, O0 is the unfused reference)"},
    {"precision", ARG_ONE, NULL, set_precision, "P", "fp32|fp16|bf16|int8 (default fp32)"},
    {"threads", ARG_ONE, NULL, set_threads, "N", "compute threads (default 0: one per core)"},
    {"jit", ARG_NONE, NULL, set_jit, NULL, "create kernels for the target shapes before the first step (default)"},
    {"no-jit", ARG_NONE, NULL, set_no_jit, NULL, "create kernels on first use"},
    {"cache-ram", ARG_MANY, NULL, set_cache_ram, "[GB [GB]]", "output cache kept by memory use (default; ours keeps 256 entries)"},
    {"cache-lru", ARG_ONE, NULL, set_cache_lru, "N", "output cache of the N most recently used results (0: default)"},
    {"cache-classic", ARG_NONE, NULL, set_cache_classic, NULL, "keep only the current prompt's outputs cached"},
    {"cache-none", ARG_NONE, NULL, set_cache_none, NULL, "no output cache: every node runs every time"},
    {"max-history", ARG_ONE, NULL, set_max_history, "N", "history entries kept (default 10000)"},
    {"cache-size", ARG_ONE, NULL, set_cache_size, "MB", "memory for loaded models kept across prompts, LRU (default 8192; 0: no limit)"},
    {"config", ARG_ONE, NULL, set_config, "FILE", "JSON object of option names to values; the command line wins"},
    /* ComfyUI flags accepted without effect (PyTorch tuning, launchers, custom nodes). */
#define IGNORED(n, a) {n, a, NULL, set_ignored, NULL, NULL}
    IGNORED("gpu-only", ARG_NONE), IGNORED("highvram", ARG_NONE), IGNORED("normalvram", ARG_NONE),
    IGNORED("lowvram", ARG_NONE), IGNORED("novram", ARG_NONE), IGNORED("reserve-vram", ARG_ONE),
    IGNORED("vram-headroom", ARG_ONE), IGNORED("cuda-device", ARG_ONE), IGNORED("default-device", ARG_ONE),
    IGNORED("directml", ARG_OPT), IGNORED("oneapi-device-selector", ARG_ONE), IGNORED("force-fp32", ARG_NONE),
    IGNORED("force-fp16", ARG_NONE), IGNORED("fp32-unet", ARG_NONE), IGNORED("fp64-unet", ARG_NONE),
    IGNORED("bf16-unet", ARG_NONE), IGNORED("fp16-unet", ARG_NONE), IGNORED("fp8_e4m3fn-unet", ARG_NONE),
    IGNORED("fp8_e5m2-unet", ARG_NONE), IGNORED("fp8_e8m0fnu-unet", ARG_NONE), IGNORED("fp16-vae", ARG_NONE),
    IGNORED("fp32-vae", ARG_NONE), IGNORED("bf16-vae", ARG_NONE), IGNORED("cpu-vae", ARG_NONE),
    IGNORED("fp8_e4m3fn-text-enc", ARG_NONE), IGNORED("fp8_e5m2-text-enc", ARG_NONE),
    IGNORED("fp16-text-enc", ARG_NONE), IGNORED("fp32-text-enc", ARG_NONE), IGNORED("bf16-text-enc", ARG_NONE),
    IGNORED("fp16-intermediates", ARG_NONE), IGNORED("force-channels-last", ARG_NONE),
    IGNORED("supports-fp8-compute", ARG_NONE), IGNORED("enable-triton-backend", ARG_NONE),
    IGNORED("use-split-cross-attention", ARG_NONE), IGNORED("use-quad-cross-attention", ARG_NONE),
    IGNORED("use-pytorch-cross-attention", ARG_NONE), IGNORED("use-sage-attention", ARG_NONE),
    IGNORED("use-flash-attention", ARG_NONE), IGNORED("disable-xformers", ARG_NONE),
    IGNORED("force-upcast-attention", ARG_NONE), IGNORED("dont-upcast-attention", ARG_NONE),
    IGNORED("async-offload", ARG_OPT), IGNORED("disable-async-offload", ARG_NONE),
    IGNORED("disable-dynamic-vram", ARG_NONE), IGNORED("enable-dynamic-vram", ARG_NONE),
    IGNORED("fast-disk", ARG_NONE), IGNORED("force-non-blocking", ARG_NONE),
    IGNORED("disable-smart-memory", ARG_NONE), IGNORED("deterministic", ARG_NONE), IGNORED("fast", ARG_MANY),
    IGNORED("debug-hang", ARG_NONE), IGNORED("disable-pinned-memory", ARG_NONE),
    IGNORED("mmap-torch-files", ARG_NONE), IGNORED("disable-mmap", ARG_NONE), IGNORED("cuda-malloc", ARG_NONE),
    IGNORED("disable-cuda-malloc", ARG_NONE), IGNORED("front-end-version", ARG_ONE),
    IGNORED("auto-launch", ARG_NONE), IGNORED("disable-auto-launch", ARG_NONE),
    IGNORED("dont-print-server", ARG_NONE), IGNORED("log-stdout", ARG_NONE),
    IGNORED("disable-all-custom-nodes", ARG_NONE), IGNORED("whitelist-custom-nodes", ARG_MANY),
    IGNORED("enable-assets", ARG_NONE), IGNORED("enable-asset-hashing", ARG_NONE),
    IGNORED("database-url", ARG_ONE), IGNORED("enable-manager", ARG_NONE),
    IGNORED("disable-manager-ui", ARG_NONE), IGNORED("enable-manager-legacy-ui", ARG_NONE),
    IGNORED("windows-standalone-build", ARG_NONE), IGNORED("comfy-api-base", ARG_ONE),
    IGNORED("list-feature-flags", ARG_NONE),
#undef IGNORED
};
#define N_OPTIONS (sizeof options / sizeof options[0])

void config_defaults(app_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    strcpy(cfg->listen, "127.0.0.1");
    cfg->port = 8188;
    cfg->max_upload_mb = 100;
    strcpy(cfg->base_dir, ".");
    cfg->preview_size = 512;
    cfg->verbose = LOG_LVL_INFO;
    cfg->max_history = 10000;
    cfg->cache_size_mb = 8192;
    strcpy(cfg->default_hash, "sha256");
    strcpy(cfg->tokenizer_url, TOKENIZER_SD1_URL);
    cfg->backend = (backend_config){.accel = ACCEL_AUTO, .opt = OPT_O3, .prec = PREC_FP32, .threads = 0, .jit = 1};
}

/* Exact names first; JSON keys may also spell dashes as underscores. */
static const option_def *find_option(const char *name, size_t len, int json) {
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strlen(options[i].name) == len && !strncmp(options[i].name, name, len)) return &options[i];
    if (!json) return NULL;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *o = options[i].name;
        if (strlen(o) != len) continue;
        size_t k = 0;
        while (k < len && (o[k] == name[k] || (o[k] == '-' && name[k] == '_'))) k++;
        if (k == len) return &options[i];
    }
    return NULL;
}

static int apply(app_config *cfg, const option_def *o, const char *v, char *err, size_t errlen) {
    if (!o->help && cfg->n_ignored < CFG_MAX_LIST) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", o->name);
        int seen = 0;
        for (int i = 0; i < cfg->n_ignored; i++) seen |= !strcmp(cfg->ignored[i], flag);
        if (!seen) memcpy(cfg->ignored[cfg->n_ignored++], flag, sizeof flag);
    }
    return o->set(cfg, v, err, errlen);
}

static int is_flag_word(const char *s) { return s[0] == '-' && s[1] != '\0' && !(s[1] >= '0' && s[1] <= '9'); }

void config_usage(FILE *out) {
    fprintf(out, "usage: comfyui-ipex [options]\n\n"
                 "A ComfyUI-compatible image generation server in C (oneDNN, Level Zero).\n\n"
                 "options:\n  -h, --help            show this help and exit\n"
                 "  --version             print the version and exit\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (!options[i].help) continue;
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", options[i].name, options[i].metavar ? " " : "",
                 options[i].metavar ? options[i].metavar : "");
        fprintf(out, "  %-36s %s\n", left, options[i].help);
    }
    fprintf(out, "\nComfyUI's PyTorch tuning flags (--highvram, --fp16-unet, --use-pytorch-cross-attention,\n"
                 "...) are accepted and have no effect.\n");
}

/* Read --config FILE (either spelling) before anything else so the command line wins. */
static cfg_result load_config_file(app_config *cfg, int argc, char **argv, char *err, size_t errlen) {
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) path = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9)) path = argv[i] + 9;
    }
    if (!path) return CFG_OK;
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, errlen, "argument --config: cannot read '%s': %s", path, strerror(errno)), CFG_ERROR;
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (1u << 24)) { fclose(f); free(text); return fail(err, errlen, "argument --config: '%s' is too large", path), CFG_ERROR; }
            char *grown = realloc(text, cap);
            if (!grown) { fclose(f); free(text); return fail(err, errlen, "out of memory"), CFG_ERROR; }
            text = grown;
        }
        size_t n = fread(text + len, 1, 4096, f);
        len += n;
        if (n < 4096) break;
    }
    fclose(f);
    text[len] = '\0';
    char inner[256];
    cfg_result r = config_apply_json(cfg, text, inner, sizeof inner);
    free(text);
    if (r != CFG_OK) return fail(err, errlen, "config file '%s': %s", path, inner), CFG_ERROR;
    return CFG_OK;
}

static int json_value_text(const cJSON *v, char *buf, size_t cap) {
    if (cJSON_IsString(v)) snprintf(buf, cap, "%s", v->valuestring);
    else if (cJSON_IsBool(v)) snprintf(buf, cap, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble) snprintf(buf, cap, "%lld", (long long)v->valuedouble);
    else if (cJSON_IsNumber(v)) snprintf(buf, cap, "%.17g", v->valuedouble);
    else return -1;
    return 0;
}

cfg_result config_apply_json(app_config *cfg, const char *json, char *err, size_t errlen) {
    cJSON *root = cJSON_Parse(json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(err, errlen, "not a JSON object"), CFG_ERROR;
    }
    cfg_result r = CFG_OK;
    for (cJSON *it = root->child; it && r == CFG_OK; it = it->next) {
        const option_def *o = find_option(it->string, strlen(it->string), 1);
        if (!o || o->set == set_config) { fail(err, errlen, "unknown option '%s'", it->string); r = CFG_ERROR; break; }
        if (cJSON_IsNull(it)) continue;
        const cJSON *items = cJSON_IsArray(it) ? it->child : it;
        if (cJSON_IsArray(it) && o->arity != ARG_MANY) { fail(err, errlen, "option '%s' takes one value", it->string); r = CFG_ERROR; break; }
        for (const cJSON *v = items; v; v = cJSON_IsArray(it) ? v->next : NULL) {
            char text[1024];
            if (json_value_text(v, text, sizeof text)) { fail(err, errlen, "option '%s': unsupported value", it->string); r = CFG_ERROR; break; }
            /* JSON false on an optional-value flag (listen, cors) means "not given". */
            if (o->arity == ARG_OPT && cJSON_IsBool(v)) {
                if (cJSON_IsFalse(v)) continue;
                snprintf(text, sizeof text, "%s", o->implicit);
            }
            if (apply(cfg, o, text, err, errlen)) { r = CFG_ERROR; break; }
        }
    }
    cJSON_Delete(root);
    return r;
}

cfg_result config_parse(app_config *cfg, int argc, char **argv, FILE *out, char *err, size_t errlen) {
    cfg->argc = argc;
    cfg->argv = argv;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { config_usage(out); return CFG_EXIT_OK; }
        if (!strcmp(argv[i], "--version")) { fprintf(out, "comfyui-ipex %s\n", CI_VERSION); return CFG_EXIT_OK; }
    }
    if (load_config_file(cfg, argc, argv, err, errlen) != CFG_OK) return CFG_ERROR;

    for (int i = 1; i < argc; i++) {
        const char *word = argv[i];
        if (strncmp(word, "--", 2) || !word[2]) return fail(err, errlen, "unrecognized arguments: %s", word), CFG_ERROR;
        const char *name = word + 2, *eq = strchr(name, '=');
        const option_def *o = find_option(name, eq ? (size_t)(eq - name) : strlen(name), 0);
        if (!o)
            return fail(err, errlen, "unrecognized arguments: %s", word), CFG_ERROR;
        int rc = 0;
        switch (o->arity) {
        case ARG_NONE:
            if (eq) return fail(err, errlen, "argument --%s: ignored explicit argument '%s'", o->name, eq + 1), CFG_ERROR;
            rc = apply(cfg, o, NULL, err, errlen);
            break;
        case ARG_ONE:
            if (eq) rc = apply(cfg, o, eq + 1, err, errlen);
            else if (i + 1 < argc && !is_flag_word(argv[i + 1])) rc = apply(cfg, o, argv[++i], err, errlen);
            else return fail(err, errlen, "argument --%s: expected one argument", o->name), CFG_ERROR;
            break;
        case ARG_OPT:
            if (eq) rc = apply(cfg, o, eq + 1, err, errlen);
            else if (i + 1 < argc && !is_flag_word(argv[i + 1])) rc = apply(cfg, o, argv[++i], err, errlen);
            else rc = apply(cfg, o, o->implicit, err, errlen);
            break;
        case ARG_MANY:
            if (eq) { rc = apply(cfg, o, eq + 1, err, errlen); break; }
            if (o->set == set_extra_paths && (i + 1 >= argc || is_flag_word(argv[i + 1])))
                return fail(err, errlen, "argument --%s: expected at least one argument", o->name), CFG_ERROR;
            if (i + 1 >= argc || is_flag_word(argv[i + 1])) rc = apply(cfg, o, NULL, err, errlen);
            while (!rc && i + 1 < argc && !is_flag_word(argv[i + 1])) rc = apply(cfg, o, argv[++i], err, errlen);
            break;
        }
        if (rc) return CFG_ERROR;
    }
    if (cfg->tls_keyfile[0] && !cfg->tls_certfile[0])
        return fail(err, errlen, "argument --tls-keyfile: needs --tls-certfile too"), CFG_ERROR;
    if (cfg->tls_certfile[0] && !cfg->tls_keyfile[0])
        return fail(err, errlen, "argument --tls-certfile: needs --tls-keyfile too"), CFG_ERROR;
    return CFG_OK;
}
