/* config.h -- the daemon's settings: command line, --config JSON file, defaults.
 *
 * One struct holds everything the daemon was told. Defaults are ComfyUI's where the flag
 * is ComfyUI's (same names, same meaning), plus our compute flags. A JSON file given with
 * --config supplies values first; the command line is applied after it, so it wins.
 * Every option is described once, in a table in config.c, and both sources go through
 * the same setter, so a JSON key is exactly a flag name without the leading dashes.
 *
 * ComfyUI flags that only tune PyTorch (--highvram, --fp16-unet, ...) are accepted and
 * remembered in `ignored` so scripts written for ComfyUI start unchanged; they have no
 * effect here and are logged as such.
 */
#ifndef CI_APP_CONFIG_H
#define CI_APP_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "backend/backend.h"
#include "graph/api.h"

#define CFG_MAX_LIST 16

typedef struct app_config {
    /* network */
    char listen[512];            /* comma-separated addresses */
    int port;
    char tls_keyfile[1024];
    char tls_certfile[1024];
    char cors_origin[256];       /* "" = same-origin guard; else the CORS origin */
    double max_upload_mb;
    int max_upload_given;        /* ComfyUI reports a float once the flag was given */
    int multi_user;
    int enable_compress;
    int disable_api_nodes;
    /* folders */
    char base_dir[1024];
    char output_dir[1024];       /* "" = <base>/output */
    char input_dir[1024];
    char temp_dir[1024];         /* the parent of "temp", as ComfyUI */
    char user_dir[1024];
    char front_end_root[1024];   /* "" = the bundled UI when it is found */
    char tokenizer_dir[1024];    /* CLIP tokenizer files (vocab.json, merges.txt) */
    char tokenizer_url[1024];    /* where they are downloaded from when none is found */
    int no_download;             /* --no-download: never fetch anything */
    int synthetic_default;       /* write the synthetic SD1.5 checkpoint into an empty
                                    models/checkpoints at start */
    char extra_model_paths[CFG_MAX_LIST][1024];
    int n_extra_model_paths;
    /* behaviour */
    int preview_method;          /* 0 none, 1 latent2rgb, 2 taesd, 3 auto */
    int preview_size;
    int disable_metadata;
    int cpu;
    int verbose;                 /* a log_level */
    int quick_test;              /* --quick-test-for-ci: start, then exit */
    int max_history;
    long cache_size_mb;          /* --cache-size: loaded models kept across prompts (0: no limit) */
    char feature_flags[CFG_MAX_LIST][256];   /* KEY or KEY=VALUE */
    int n_feature_flags;
    char default_hash[16];       /* upload de-duplication: md5|sha1|sha256|sha512 */
    int cache_mode;              /* graph_cache_mode (--cache-ram/-lru/-classic/-none) */
    int cache_lru;               /* N of --cache-lru */
    char cache_flag[24];         /* which of those was given (they exclude each other) */
    /* compute (ours) */
    backend_config backend;
    /* bookkeeping */
    char config_file[1024];
    char ignored[CFG_MAX_LIST][64];          /* accepted ComfyUI flags without effect */
    int n_ignored;
    int argc;
    char **argv;
} app_config;

typedef enum { CFG_OK, CFG_EXIT_OK, CFG_ERROR } cfg_result;

void config_defaults(app_config *cfg);
/* Parse argv (reading --config FILE first). CFG_EXIT_OK: --help/--version printed to out.
 * CFG_ERROR: a one-line message is in err (the caller prints it and exits 2). */
cfg_result config_parse(app_config *cfg, int argc, char **argv, FILE *out, char *err, size_t errlen);
/* Apply a JSON object of option names to values (what --config FILE holds). */
cfg_result config_apply_json(app_config *cfg, const char *json, char *err, size_t errlen);
void config_usage(FILE *out);

const char *config_preview_method_name(int method);

#endif
