/* folders.c -- the folder registry, model file scans, extra_model_paths.yaml (see folders.h).
 *
 * The YAML reader understands exactly what extra_model_paths.yaml files use: top-level
 * section names, indented "key: value" pairs, quoted values and "key: |" blocks holding
 * one path per line. base_path expands ~ and $VARS and is relative to the YAML file.
 */
#include "base/folders.h"

#include "base/dirwalk.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wordexp.h>

#include "base/log.h"

#define MAX_FOLDERS 64
#define MAX_PATHS 16

typedef enum { EXT_MODEL, EXT_YAML, EXT_ANY, EXT_NONE_ONLY, EXT_NOTHING } ext_filter;

typedef struct folder {
    char name[64];
    ext_filter filter;
    char *paths[MAX_PATHS];
    int n_paths;
} folder;

static struct {
    char base[PATH_MAX], models[PATH_MAX], output[PATH_MAX], input[PATH_MAX], temp[PATH_MAX], user[PATH_MAX];
    char tokenizer[PATH_MAX];
    char tokenizer_url[2048];
    folder folders[MAX_FOLDERS];
    int n;
} reg;

/* ---- string lists ---- */

void str_list_push(str_list *l, const char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->items = realloc(l->items, sizeof(char *) * (size_t)l->cap);
        if (!l->items) abort();
    }
    l->items[l->n] = strdup(s);
    if (!l->items[l->n]) abort();
    l->n++;
}

void str_list_free(str_list *l) {
    for (int i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* ---- paths ---- */

int folders_mkdirs(const char *path) {
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
    return 0;
}

/* Absolute, normalised form of a path that may not exist yet. */
static void absolute(const char *path, char *out, size_t cap) {
    char cwd[PATH_MAX];
    int n = path[0] == '/' || !getcwd(cwd, sizeof cwd) ? snprintf(out, cap, "%s", path)
                                                        : snprintf(out, cap, "%s/%s", cwd, path);
    if (n < 0 || (size_t)n >= cap) out[cap - 1] = '\0';   /* over-long: truncated, fails later */
    /* Collapse "/./", "//" and trailing "/." ; ".." is left to the OS. */
    char *w = out;
    for (const char *r = out; *r;) {
        if (r[0] == '/' && r[1] == '/') { r++; continue; }
        if (r[0] == '/' && r[1] == '.' && (r[2] == '/' || r[2] == '\0')) { r += 2; continue; }
        *w++ = *r++;
    }
    if (w > out + 1 && w[-1] == '/') w--;
    if (w == out) *w++ = '/';
    *w = '\0';
}

static void join(char *out, size_t cap, const char *a, const char *b) {
    char tmp[PATH_MAX * 2];
    if (b[0] == '/') snprintf(tmp, sizeof tmp, "%s", b);
    else snprintf(tmp, sizeof tmp, "%s/%s", a, b);
    absolute(tmp, out, cap);
}

/* ---- registry ---- */

static folder *folder_get(const char *name) {
    for (int i = 0; i < reg.n; i++)
        if (!strcmp(reg.folders[i].name, name)) return &reg.folders[i];
    return NULL;
}

static folder *folder_add(const char *name, ext_filter filter) {
    folder *f = folder_get(name);
    if (f || reg.n == MAX_FOLDERS) return f;
    f = &reg.folders[reg.n++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    f->filter = filter;
    return f;
}

static void folder_add_path(folder *f, const char *path, int first) {
    if (!f || f->n_paths == MAX_PATHS) return;
    for (int i = 0; i < f->n_paths; i++) {
        if (strcmp(f->paths[i], path)) continue;
        if (!first) return;
        free(f->paths[i]);      /* moved to the front below */
        memmove(&f->paths[i], &f->paths[i + 1], sizeof(char *) * (size_t)(f->n_paths - i - 1));
        f->n_paths--;
        break;
    }
    char *copy = strdup(path);
    if (!copy) abort();
    if (first) {
        memmove(&f->paths[1], &f->paths[0], sizeof(char *) * (size_t)f->n_paths);
        f->paths[0] = copy;
    } else {
        f->paths[f->n_paths] = copy;
    }
    f->n_paths++;
}

static const char *canonical_name(const char *name) {
    if (!strcmp(name, "clip")) return "text_encoders";
    if (!strcmp(name, "unet")) return "diffusion_models";
    return name;
}

/* ComfyUI's registry, in its order; the second column lists sub-folders of <base>/models. */
static void register_defaults(void) {
    static const struct { const char *name; const char *dirs; ext_filter filter; } defs[] = {
        {"checkpoints", "checkpoints", EXT_MODEL}, {"configs", "configs", EXT_YAML},
        {"loras", "loras", EXT_MODEL}, {"vae", "vae", EXT_MODEL},
        {"text_encoders", "text_encoders clip", EXT_MODEL}, {"diffusion_models", "unet diffusion_models", EXT_MODEL},
        {"clip_vision", "clip_vision", EXT_MODEL}, {"style_models", "style_models", EXT_MODEL},
        {"embeddings", "embeddings", EXT_MODEL},
        /* ComfyUI filters diffusers by the pseudo extension "folder", which no file has. */
        {"diffusers", "diffusers", EXT_NOTHING},
        {"vae_approx", "vae_approx", EXT_MODEL}, {"controlnet", "controlnet t2i_adapter", EXT_MODEL},
        {"gligen", "gligen", EXT_MODEL}, {"upscale_models", "upscale_models", EXT_MODEL},
        {"latent_upscale_models", "latent_upscale_models", EXT_MODEL}, {"custom_nodes", "", EXT_ANY},
        {"hypernetworks", "hypernetworks", EXT_MODEL}, {"photomaker", "photomaker", EXT_MODEL},
        {"classifiers", "classifiers", EXT_NONE_ONLY}, {"model_patches", "model_patches", EXT_MODEL},
        {"audio_encoders", "audio_encoders", EXT_MODEL}, {"background_removal", "background_removal", EXT_MODEL},
        {"frame_interpolation", "frame_interpolation", EXT_MODEL},
        {"geometry_estimation", "geometry_estimation", EXT_MODEL}, {"optical_flow", "optical_flow", EXT_MODEL},
        {"detection", "detection", EXT_MODEL},
    };
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        folder *f = folder_add(defs[i].name, defs[i].filter);
        char path[PATH_MAX];
        if (!defs[i].dirs[0]) {
            join(path, sizeof path, reg.base, "custom_nodes");
            folder_add_path(f, path, 0);
            continue;
        }
        char dirs[128];
        snprintf(dirs, sizeof dirs, "%s", defs[i].dirs);
        for (char *save, *d = strtok_r(dirs, " ", &save); d; d = strtok_r(NULL, " ", &save)) {
            join(path, sizeof path, reg.models, d);
            folder_add_path(f, path, 0);
        }
    }
    /* Models trained or merged by workflows land in the output folder (ComfyUI's main.py). */
    static const char *const out_dirs[][2] = {{"checkpoints", "checkpoints"}, {"loras", "loras"}, {"vae", "vae"},
        {"text_encoders", "clip"}, {"diffusion_models", "diffusion_models"}};
    for (size_t i = 0; i < sizeof out_dirs / sizeof out_dirs[0]; i++) {
        char path[PATH_MAX];
        join(path, sizeof path, reg.output, out_dirs[i][1]);
        folder_add_path(folder_get(out_dirs[i][0]), path, 0);
    }
}

/* ---- extra_model_paths.yaml ---- */

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

/* A scalar value: 'quoted' or "quoted" (anything after the closing quote is ignored),
 * else the text up to a " #" comment. */
static char *unquote(char *s) {
    s = trim(s);
    if (s[0] == '"' || s[0] == '\'') {
        char *close = strchr(s + 1, s[0]);
        if (close) {
            *close = '\0';
            return s + 1;
        }
    }
    char *hash = strstr(s, " #");
    if (hash) *hash = '\0';
    return trim(s);
}

static void expand_user_vars(const char *in, char *out, size_t cap) {
    wordexp_t we;
    if (!wordexp(in, &we, WRDE_NOCMD) && we.we_wordc == 1) snprintf(out, cap, "%s", we.we_wordv[0]);
    else snprintf(out, cap, "%s", in);
    wordfree(&we);
}

typedef struct yaml_section {
    char base_path[PATH_MAX];
    int is_default;
    char *keys[64];
    char *values[64];       /* newline-separated paths */
    int n;
} yaml_section;

static void section_apply(yaml_section *s, const char *yaml_dir) {
    char base[PATH_MAX] = "";
    if (s->base_path[0]) {
        char expanded[PATH_MAX];
        expand_user_vars(s->base_path, expanded, sizeof expanded);
        join(base, sizeof base, yaml_dir, expanded);
    }
    for (int i = 0; i < s->n; i++) {
        const char *name = canonical_name(s->keys[i]);
        folder *f = folder_add(name, EXT_ANY);
        char *save, *line = s->values[i];
        for (char *p = strtok_r(line, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
            p = trim(p);
            if (!*p) continue;
            char path[PATH_MAX];
            join(path, sizeof path, base[0] ? base : yaml_dir, p);
            folder_add_path(f, path, s->is_default);
            log_info("extra model path: %s -> %s", name, path);
        }
        free(s->keys[i]);
        free(s->values[i]);
    }
    memset(s, 0, sizeof *s);
}

static void section_set(yaml_section *s, const char *key, const char *value) {
    if (!strcmp(key, "base_path")) { snprintf(s->base_path, sizeof s->base_path, "%s", value); return; }
    if (!strcmp(key, "is_default")) { s->is_default = !strcasecmp(value, "true") || !strcmp(value, "1"); return; }
    if (s->n == 64) return;
    s->keys[s->n] = strdup(key);
    s->values[s->n] = strdup(value);
    if (!s->keys[s->n] || !s->values[s->n]) abort();
    s->n++;
}

static int load_extra_yaml(const char *file, char *err, size_t errlen) {
    FILE *f = fopen(file, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read extra model paths '%s': %s", file, strerror(errno));
        return -1;
    }
    char abs[PATH_MAX], dir[PATH_MAX];
    absolute(file, abs, sizeof abs);
    snprintf(dir, sizeof dir, "%s", abs);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) *slash = '\0';

    yaml_section sec;
    memset(&sec, 0, sizeof sec);
    int in_section = 0;
    char line[4096], block_key[128] = "";
    int block_indent = -1, key_indent = 0;
    char *block = NULL;
    size_t block_len = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        int indent = 0;
        while (line[indent] == ' ' || line[indent] == '\t') indent++;
        char *content = line + indent;
        if (block && (*content == '\0' || indent > key_indent)) {
            if (*content == '\0') continue;
            if (block_indent < 0) block_indent = indent;
            size_t n = strlen(content);
            char *grown = realloc(block, block_len + n + 2);
            if (!grown) abort();
            block = grown;
            memcpy(block + block_len, content, n);
            block_len += n;
            block[block_len++] = '\n';
            block[block_len] = '\0';
            continue;
        }
        if (block) {
            section_set(&sec, block_key, block);
            free(block);
            block = NULL;
        }
        if (*content == '\0' || *content == '#') continue;
        char *colon = strchr(content, ':');
        if (!colon) continue;
        *colon = '\0';
        char *key = trim(content), *value = unquote(colon + 1);
        if (indent == 0) {
            if (in_section) section_apply(&sec, dir);
            in_section = 1;
            continue;
        }
        if (!in_section) continue;
        if (!strcmp(value, "|") || !strcmp(value, "|-") || !strcmp(value, ">")) {
            snprintf(block_key, sizeof block_key, "%s", key);
            key_indent = indent;
            block_indent = -1;
            block = calloc(1, 1);
            block_len = 0;
            if (!block) abort();
            continue;
        }
        if (*value) section_set(&sec, key, value);
    }
    if (block) {
        section_set(&sec, block_key, block);
        free(block);
    }
    if (in_section) section_apply(&sec, dir);
    fclose(f);
    return 0;
}

/* ---- start-up ---- */

static int remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (!d) return unlink(path);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char child[PATH_MAX];
        if (snprintf(child, sizeof child, "%s/%s", path, e->d_name) >= (int)sizeof child) continue;
        struct stat st;
        if (!lstat(child, &st) && S_ISDIR(st.st_mode)) remove_tree(child);
        else unlink(child);
    }
    closedir(d);
    return rmdir(path);
}

static int make_dir(const char *path, const char *what, char *err, size_t errlen) {
    if (!folders_mkdirs(path)) return 0;
    snprintf(err, errlen, "cannot create the %s folder '%s': %s", what, path, strerror(errno));
    return -1;
}

int folders_init(const folders_config *cfg, char *err, size_t errlen) {
    folders_shutdown();
    absolute(cfg->base_dir && cfg->base_dir[0] ? cfg->base_dir : ".", reg.base, sizeof reg.base);
    join(reg.models, sizeof reg.models, reg.base, "models");
#define PICK(dst, given, def)                                             \
    do {                                                                  \
        if ((given) && (given)[0]) absolute((given), dst, sizeof dst);    \
        else join(dst, sizeof dst, reg.base, def);                        \
    } while (0)
    PICK(reg.output, cfg->output_dir, "output");
    PICK(reg.input, cfg->input_dir, "input");
    PICK(reg.user, cfg->user_dir, "user");
#undef PICK
    char temp_parent[PATH_MAX];
    absolute(cfg->temp_parent && cfg->temp_parent[0] ? cfg->temp_parent : reg.base, temp_parent, sizeof temp_parent);
    join(reg.temp, sizeof reg.temp, temp_parent, "temp");

    if (cfg->tokenizer_dir && cfg->tokenizer_dir[0]) absolute(cfg->tokenizer_dir, reg.tokenizer, sizeof reg.tokenizer);
    if (cfg->tokenizer_url) snprintf(reg.tokenizer_url, sizeof reg.tokenizer_url, "%s", cfg->tokenizer_url);

    register_defaults();
    for (int i = 0; i < cfg->n_extra_yaml; i++)
        if (load_extra_yaml(cfg->extra_yaml[i], err, errlen)) return -1;

    struct stat st;
    if (!stat(reg.temp, &st)) remove_tree(reg.temp);
    if (make_dir(reg.input, "input", err, errlen) || make_dir(reg.output, "output", err, errlen) ||
        make_dir(reg.temp, "temp", err, errlen) || make_dir(reg.user, "user", err, errlen))
        return -1;
    /* The standard model folders under <base>/models, so users see where files go. */
    for (int i = 0; i < reg.n; i++)
        for (int k = 0; k < reg.folders[i].n_paths; k++) {
            const char *p = reg.folders[i].paths[k];
            if (!strncmp(p, reg.models, strlen(reg.models)) && folders_mkdirs(p))
                log_warn("cannot create model folder %s: %s", p, strerror(errno));
        }
    return 0;
}

void folders_shutdown(void) {
    struct stat st;
    if (reg.temp[0] && !stat(reg.temp, &st)) remove_tree(reg.temp);
    for (int i = 0; i < reg.n; i++)
        for (int k = 0; k < reg.folders[i].n_paths; k++) free(reg.folders[i].paths[k]);
    memset(&reg, 0, sizeof reg);
}

const char *folders_base(void) { return reg.base; }
const char *folders_models_dir(void) { return reg.models; }
const char *folders_output(void) { return reg.output; }
const char *folders_input(void) { return reg.input; }
const char *folders_temp(void) { return reg.temp; }
const char *folders_user(void) { return reg.user; }

const char *folders_tokenizer_dir(void) { return reg.tokenizer[0] ? reg.tokenizer : NULL; }

const char *folders_tokenizer_url(void) { return reg.tokenizer_url[0] ? reg.tokenizer_url : NULL; }

const char *folders_for_type(const char *type) {
    if (!type) return NULL;
    if (!strcmp(type, "input")) return reg.input;
    if (!strcmp(type, "output")) return reg.output;
    if (!strcmp(type, "temp")) return reg.temp;
    return NULL;
}

int folders_count(void) { return reg.n; }
const char *folders_name(int i) { return i >= 0 && i < reg.n ? reg.folders[i].name : NULL; }

int folders_find(const char *name, int legacy) {
    if (legacy) name = canonical_name(name);
    for (int i = 0; i < reg.n; i++)
        if (!strcmp(reg.folders[i].name, name)) return i;
    return -1;
}

int folders_path_count(int i) { return i >= 0 && i < reg.n ? reg.folders[i].n_paths : 0; }
const char *folders_path(int i, int k) {
    return i >= 0 && i < reg.n && k >= 0 && k < reg.folders[i].n_paths ? reg.folders[i].paths[k] : NULL;
}

/* ---- scans ---- */

int folders_is_model_file(const char *filename) {
    static const char *const exts[] = {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"};
    const char *slash = strrchr(filename, '/');
    const char *dot = strrchr(slash ? slash + 1 : filename, '.');
    if (!dot) return 0;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (!strcasecmp(dot, exts[i])) return 1;
    return 0;
}

int folders_accepts(int i, const char *filename) {
    if (i < 0 || i >= reg.n) return 0;
    const char *slash = strrchr(filename, '/');
    const char *base = slash ? slash + 1 : filename;
    const char *dot = strrchr(base, '.');
    if (dot == base) dot = NULL;          /* ".hidden" has no extension (os.path.splitext) */
    switch (reg.folders[i].filter) {
    case EXT_MODEL: return folders_is_model_file(filename);
    case EXT_YAML: return dot && !strcasecmp(dot, ".yaml");
    case EXT_ANY: return 1;
    case EXT_NONE_ONLY: return dot == NULL;
    default: return 0;
    }
}

typedef struct walk_ctx { int folder_idx; str_list *out; } walk_ctx;

/* Model folders follow symlinks (users link their model stores in) and skip .git. */
static int walk_visit(void *ud, const char *rel, const char *name, const struct stat *st) {
    walk_ctx *w = ud;
    if (S_ISDIR(st->st_mode)) return strcmp(name, ".git") != 0;
    if (folders_accepts(w->folder_idx, rel)) str_list_push(w->out, rel);
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int folders_list(const char *name, str_list *out) {
    int idx = folders_find(name, 1);
    if (idx < 0) return -1;
    str_list all = {0};
    walk_ctx w = {idx, &all};
    for (int k = 0; k < reg.folders[idx].n_paths; k++) dirwalk(reg.folders[idx].paths[k], "", 1, walk_visit, &w);
    if (all.n) qsort(all.items, (size_t)all.n, sizeof(char *), cmp_str);
    for (int i = 0; i < all.n; i++)
        if (i == 0 || strcmp(all.items[i], all.items[i - 1])) str_list_push(out, all.items[i]);
    str_list_free(&all);
    return 0;
}

int folders_resolve(const char *name, const char *relname, char *out, size_t cap) {
    int idx = folders_find(name, 1);
    if (idx < 0 || !relname[0] || relname[0] == '/' || strstr(relname, "..")) return -1;
    for (int k = 0; k < reg.folders[idx].n_paths; k++) {
        struct stat st;
        if (snprintf(out, cap, "%s/%s", reg.folders[idx].paths[k], relname) >= (int)cap) continue;
        if (!stat(out, &st) && S_ISREG(st.st_mode)) return 0;
    }
    return -1;
}
