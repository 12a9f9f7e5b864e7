/* comfyui_ipex/node.h -- the node plugin ABI.
 *
 * A node pack is a set of node types. Each type is one `ci_node_def`: the same facts a
 * ComfyUI node class carries (INPUT_TYPES, RETURN_TYPES, RETURN_NAMES, OUTPUT_NODE,
 * CATEGORY, DESCRIPTION, INPUT_IS_LIST, OUTPUT_IS_LIST, IS_CHANGED, VALIDATE_INPUTS and
 * the FUNCTION). The input declaration is ComfyUI's own INPUT_TYPES dict written as JSON
 * text, so `/object_info` is generated from exactly what the node declares, type specs,
 * defaults, ranges, steps and tooltips in the node's own key order. Combo lists that
 * depend on the disk (model files, input images) are computed at query time by the
 * `options` callback.
 *
 * Everything a node does with the host goes through `ci_host`, a table of function
 * pointers handed to the pack at registration, so a pack built as a shared object needs
 * no symbols from the daemon for graph services. The inline ci_* wrappers below read
 * the table from the call. Values are opaque and reference counted; object values
 * (IMAGE, LATENT, MODEL, ...) carry a type name, a payload pointer and a destructor,
 * and are immutable once made: a node never changes its inputs, because cached outputs
 * are shared between prompts.
 *
 * A pack: `int ci_pack_init(const ci_host *host)` that calls host->register_node() for
 * each of its types (external packs export that symbol; built-in packs are called by
 * src/app/packs.c).
 */
#ifndef COMFYUI_IPEX_NODE_H
#define COMFYUI_IPEX_NODE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

/* 2: ci_host gained preview_size. The registry takes only packs of this version, so a
 * pack never reads past an older host's table. */
#define CI_ABI_VERSION 2

typedef struct ci_value ci_value;   /* opaque, refcounted */
typedef struct ci_call ci_call;     /* one invocation of a node function (or its validator) */
typedef struct ci_host ci_host;

typedef struct ci_output_def {
    const char *type;      /* "LATENT", "IMAGE", "MODEL", ... */
    const char *name;      /* display name; NULL: the type */
    int is_list;           /* OUTPUT_IS_LIST */
    const char *tooltip;   /* NULL: none (output_tooltips only appears if any output has one) */
} ci_output_def;

enum ci_node_flags {
    CI_OUTPUT_NODE              = 1 << 0,
    CI_INPUT_IS_LIST            = 1 << 1,
    CI_DEPRECATED               = 1 << 2,
    CI_EXPERIMENTAL             = 1 << 3,
    CI_NOT_IDEMPOTENT           = 1 << 4,   /* cache key includes the node id */
    CI_HAS_INTERMEDIATE_OUTPUT  = 1 << 5,
    CI_DEV_ONLY                 = 1 << 6,
    CI_SCHEMA_V3                = 1 << 7,   /* /object_info in ComfyUI's V3 form: every key, nulls */
};

typedef struct ci_node_def {
    int abi_version;                 /* CI_ABI_VERSION */
    const char *name;                /* class id, e.g. "EmptyLatentImage" */
    const char *display_name;        /* NULL: name */
    const char *description;         /* NULL: "" */
    const char *category;            /* "model/latent" */
    const char *python_module;       /* NULL: "nodes" (the frontend's source badge) */
    /* INPUT_TYPES as JSON text: {"required": {name: spec}, "optional": {...}, "hidden":
     * {name: "PROMPT"|"EXTRA_PNGINFO"|"UNIQUE_ID"}}, specs as in /object_info. */
    const char *inputs;
    const ci_output_def *outputs;
    int n_outputs;
    const char *const *search_aliases;   /* NULL-terminated, or NULL */
    const char *essentials_category;     /* NULL: none */
    unsigned flags;                      /* ci_node_flags */
    /* OUTPUT_TOOLTIPS when it is not one per output (NULL-terminated; a node class
     * inheriting a longer list, e.g. LoraLoaderModelOnly); NULL: the outputs' own. */
    const char *const *output_tooltips;

    /* Combo options computed at query and validation time for an input whose declared
     * option list is empty ([] as the type, or "COMBO" with "options": []): a new cJSON
     * array of strings, or NULL for none. */
    cJSON *(*options)(const ci_host *host, const char *input);
    /* VALIDATE_INPUTS: the inputs it takes (NULL-terminated; these skip the range and
     * list checks) and the check itself, reading constants with ci_get_*. Returns 0, or
     * -1 with a reason in msg. */
    const char *const *validate_inputs;
    int (*validate)(ci_call *c, char *msg, size_t msglen);
    /* IS_CHANGED: a malloc'd fingerprint joined to the cache key, or NULL to re-run
     * every time. Reads constants with ci_get_*. */
    char *(*fingerprint)(ci_call *c);
    /* The node function: reads inputs, sets outputs and UI, returns 0, or -1 after
     * ci_fail(). */
    int (*run)(ci_call *c);
} ci_node_def;

typedef enum { CI_DIR_INPUT, CI_DIR_OUTPUT, CI_DIR_TEMP } ci_dir;

struct ci_host {
    int abi_version;
    int (*register_node)(const ci_node_def *def);   /* def must outlive the daemon */

    /* inputs: constants (normalised as validation left them) and linked values */
    const cJSON *(*get_json)(ci_call *c, const char *input);        /* NULL if absent or linked */
    const ci_value *(*get)(ci_call *c, const char *input);          /* NULL if absent */
    int (*count)(ci_call *c, const char *input);                    /* INPUT_IS_LIST length */
    const ci_value *(*get_at)(ci_call *c, const char *input, int i);
    int64_t (*get_i64)(ci_call *c, const char *input);              /* exact; 0 if not an int */
    uint64_t (*get_u64)(ci_call *c, const char *input);             /* seeds up to 2^64-1 */
    const cJSON *(*hidden)(ci_call *c, const char *input);          /* PROMPT, EXTRA_PNGINFO */
    const char *(*node_id)(ci_call *c);
    const char *(*prompt_id)(ci_call *c);

    /* values */
    ci_value *(*value_object)(const char *type, void *payload, void (*destroy)(void *));
    ci_value *(*value_json)(cJSON *json);                           /* takes ownership */
    void *(*value_payload)(const ci_value *v, const char *type);    /* NULL if not that type */
    const cJSON *(*value_as_json)(const ci_value *v);               /* NULL if an object */
    ci_value *(*value_ref)(const ci_value *v);
    void (*value_unref)(ci_value *v);

    /* results */
    int (*set_output)(ci_call *c, int index, ci_value *v);          /* takes ownership */
    int (*ui_add)(ci_call *c, const char *key, cJSON *item);        /* takes ownership */
    int (*raise_error)(ci_call *c, const char *exception_type, const char *fmt, va_list ap);

    /* services */
    int (*progress)(ci_call *c, int64_t value, int64_t max);        /* nonzero: interrupted */
    int (*interrupted)(ci_call *c);
    void (*preview)(ci_call *c, int format, const unsigned char *data, size_t len); /* 1 JPEG, 2 PNG */
    const char *(*dir)(ci_dir which);
    int (*disable_metadata)(void);
    /* 0 none, 1 latent2rgb, 2 taesd, 3 auto: --preview-method, or the prompt's
     * extra_data.preview_method */
    int (*preview_method)(ci_call *c);
    /* Model folders (ComfyUI's folder_paths: "checkpoints", "loras", "vae", ...): the
     * sorted file list as a new cJSON array (for combo options), and a file's full
     * path (0, or -1 when the folder or file is unknown). */
    cJSON *(*model_files)(const char *folder);
    int (*model_path)(const char *folder, const char *name, char *out, size_t cap);
    /* Called on the worker thread between prompts after POST /free: unload_models asks
     * packs to release what they keep loaded (prepared weights, model caches);
     * free_memory additionally empties the output cache. */
    int (*on_free)(void (*fn)(int free_memory));
    /* --preview-size: preview frames are fitted to a square of this size, shrunk or
     * enlarged as ComfyUI does (ABI version 2). */
    int (*preview_size)(void);
};

/* ---- convenience wrappers ------------------------------------------------------- */

struct ci_call { const ci_host *host; };   /* first member of the host's call record */

static inline const cJSON *ci_get_json(ci_call *c, const char *in) { return c->host->get_json(c, in); }
static inline const ci_value *ci_get(ci_call *c, const char *in) { return c->host->get(c, in); }
static inline void *ci_get_object(ci_call *c, const char *in, const char *type) {
    const ci_value *v = c->host->get(c, in);
    return v ? c->host->value_payload(v, type) : NULL;
}
static inline int64_t ci_get_int(ci_call *c, const char *in) { return c->host->get_i64(c, in); }
static inline uint64_t ci_get_u64(ci_call *c, const char *in) { return c->host->get_u64(c, in); }
static inline double ci_get_float(ci_call *c, const char *in) {
    const cJSON *j = c->host->get_json(c, in);
    if (!j) { const ci_value *v = c->host->get(c, in); j = v ? c->host->value_as_json(v) : NULL; }
    return j && cJSON_IsNumber(j) ? j->valuedouble : 0.0;
}
static inline const char *ci_get_string(ci_call *c, const char *in) {
    const cJSON *j = c->host->get_json(c, in);
    if (!j) { const ci_value *v = c->host->get(c, in); j = v ? c->host->value_as_json(v) : NULL; }
    return j && cJSON_IsString(j) ? j->valuestring : NULL;
}
static inline int ci_set_object(ci_call *c, int index, const char *type, void *payload,
                                void (*destroy)(void *)) {
    ci_value *v = c->host->value_object(type, payload, destroy);
    if (!v) { if (destroy) destroy(payload); return -1; }
    return c->host->set_output(c, index, v);
}
static inline int ci_pass(ci_call *c, int index, const char *input) {
    const ci_value *v = c->host->get(c, input);
    return v ? c->host->set_output(c, index, c->host->value_ref(v)) : -1;
}
static inline int ci_fail(ci_call *c, const char *exception_type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int ci_fail(ci_call *c, const char *exception_type, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    c->host->raise_error(c, exception_type, fmt, ap);
    va_end(ap);
    return -1;
}

/* JSON integers: a number item whose valuestring holds its exact decimal literal (so
 * 64-bit values survive cJSON's doubles); a number without valuestring is a float. */
static inline cJSON *ci_new_int(int64_t v) {
    cJSON *n = cJSON_CreateNumber((double)v);
    char *lit = n ? (char *)cJSON_malloc(24) : NULL;
    if (!lit) { cJSON_Delete(n); return NULL; }
    int len = 0;
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char tmp[24];
    do { tmp[len++] = (char)('0' + mag % 10); mag /= 10; } while (mag);
    int o = 0;
    if (v < 0) lit[o++] = '-';
    while (len) lit[o++] = tmp[--len];
    lit[o] = 0;
    n->valuestring = lit;
    return n;
}
static inline int ci_set_int(ci_call *c, int index, int64_t v) {
    return c->host->set_output(c, index, c->host->value_json(ci_new_int(v)));
}

typedef int (*ci_pack_init_fn)(const ci_host *host);

#endif
