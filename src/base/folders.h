/* folders.h -- where files live: ComfyUI's folder_paths.
 *
 * One registry, fixed at start-up: the base directory, input/output/temp/user folders and
 * the model folders in ComfyUI's order, each with its list of paths and its extension
 * filter (model files, .yaml, any, none). `--extra-model-paths-config` files (ComfyUI's
 * extra_model_paths.yaml format) add paths and new folders. File lists are scanned from
 * disk on every call (recursive, symlinks followed, .git skipped, sorted, de-duplicated),
 * so they always reflect the files as they are now; /object_info combos and the /models
 * routes both read them here.
 *
 * After folders_init the registry is read-only, so any thread may query it.
 */
#ifndef CI_BASE_FOLDERS_H
#define CI_BASE_FOLDERS_H

#include <stddef.h>

typedef struct folders_config {
    const char *base_dir;       /* required */
    const char *output_dir;     /* NULL or "": <base>/output */
    const char *input_dir;
    const char *temp_parent;    /* temp = <temp_parent>/temp; NULL or "": <base> */
    const char *user_dir;
    const char *const *extra_yaml;   /* extra_model_paths.yaml files */
    int n_extra_yaml;
    const char *tokenizer_dir;  /* --tokenizer-dir; NULL or "": search the defaults */
    const char *tokenizer_url;  /* --tokenizer-url; NULL or "": no downloads */
} folders_config;

typedef struct str_list {
    char **items;
    int n, cap;
} str_list;

void str_list_push(str_list *l, const char *s);
void str_list_free(str_list *l);

/* Builds the registry and creates input/output/temp/user and the model folders under
 * <base>/models (the temp folder is emptied first, as ComfyUI does). Returns 0, or -1
 * with a message in err. */
int folders_init(const folders_config *cfg, char *err, size_t errlen);
void folders_shutdown(void);     /* empties the temp folder, frees the registry */

const char *folders_base(void);
const char *folders_models_dir(void);
const char *folders_output(void);
const char *folders_input(void);
const char *folders_temp(void);
const char *folders_user(void);
/* --tokenizer-dir as given (absolute), or NULL: the override for tokenizer_find(). */
const char *folders_tokenizer_dir(void);
/* Where a missing tokenizer may be downloaded from, or NULL (--no-download). */
const char *folders_tokenizer_url(void);
/* "input", "output", "temp" -> that folder; anything else NULL. */
const char *folders_for_type(const char *type);

int folders_count(void);
const char *folders_name(int i);
/* Index of a model folder key, or -1. legacy: also accept "clip" and "unet". */
int folders_find(const char *name, int legacy);
int folders_path_count(int folder);
const char *folders_path(int folder, int i);

/* Relative file paths ('/'-separated) of a model folder over all its paths, filtered by
 * its extensions, de-duplicated and sorted. Returns 0, or -1 for an unknown folder. */
int folders_list(const char *name, str_list *out);
/* Full path of <relname> in a model folder (first of its paths that has it); 0 or -1. */
int folders_resolve(const char *name, const char *relname, char *out, size_t cap);
/* 1 when the file name passes the folder's extension filter. */
int folders_accepts(int folder, const char *filename);
/* The model-file extensions (.ckpt .pt .pt2 .bin .pth .safetensors .pkl .sft). */
int folders_is_model_file(const char *filename);

/* Creates a directory and its parents (mode 0755); 0 or -1. */
int folders_mkdirs(const char *path);

#endif
