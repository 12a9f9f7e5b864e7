/* validate.c -- prompt validation, answering exactly as ComfyUI does.
 *
 * Follows ComfyUI's validate_prompt/validate_inputs step by step (spec 5.2): class
 * check of every node, output selection, then a memoised depth-first validation from
 * each output through its links. Python's exceptions become a third outcome (V_EXC)
 * carrying the exception type and text, raised where Python would raise (a link to a
 * missing node, a bad output index) and turned into error objects where Python catches
 * them. Constants are converted with Python's int()/float()/str()/bool() rules and
 * written back, so the prompt that is queued is the normalised one.
 */
#include "graph/graph.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

enum { V_UNSEEN, V_ACTIVE, V_VALID, V_INVALID };
enum { R_OK, R_INVALID, R_EXC };

typedef struct vnode {
    const char *id;
    cJSON *node;              /* the prompt entry */
    const reg_node *reg;
    int state;
    cJSON *errors;            /* reasons recorded for this node (array) */
    int order;                /* when its result was recorded (ComfyUI's dict order) */
} vnode;

typedef struct vctx {
    cJSON *prompt;
    vnode *nodes;
    int n, next_order;
    vnode **stack;            /* nodes being validated, for cycle reports */
    int depth;
    char exc_type[64];
    char *exc_msg;            /* pending exception */
} vctx;

cJSON *error_object(const char *type, const char *message, const char *details, cJSON *extra) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "details", details ? details : "");
    cJSON_AddItemToObject(e, "extra_info", extra ? extra : cJSON_CreateObject());
    return e;
}

static vnode *find_node(vctx *c, const char *id) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->nodes[i].id, id)) return &c->nodes[i];
    return NULL;
}

static void record(vctx *c, vnode *n, int state, cJSON *errors) {
    n->state = state;
    if (n->errors && errors != n->errors) cJSON_Delete(n->errors);
    n->errors = errors;
    n->order = c->next_order++;
}

static int raise(vctx *c, const char *type, char *msg) {
    snprintf(c->exc_type, sizeof c->exc_type, "%s", type);
    free(c->exc_msg);
    c->exc_msg = msg;
    return R_EXC;
}

/* ---- Python conversions ---- */

static char *fmt(const char *f, const char *a) {
    sbuf b = {0};
    sb_printf(&b, f, a);
    return sb_take(&b);
}

static const char *py_type_name(const cJSON *v) {
    if (!v || cJSON_IsNull(v)) return "NoneType";
    if (cJSON_IsObject(v)) return "dict";
    if (cJSON_IsArray(v)) return "list";
    return "str";
}

/* Python int(): returns the new item, or NULL with *err set to the exception text. */
static cJSON *py_int(const cJSON *v, char **err, const char **etype) {
    if (json_is_int(v)) return cJSON_Duplicate(v, 0);
    if (cJSON_IsBool(v)) return json_new_int(cJSON_IsTrue(v));
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (isnan(d)) { *etype = "ValueError"; *err = strdup("cannot convert float NaN to integer"); return NULL; }
        if (isinf(d)) { *etype = "OverflowError"; *err = strdup("cannot convert float infinity to integer"); return NULL; }
        char digits[400];
        snprintf(digits, sizeof digits, "%.0f", trunc(d));
        return json_new_int_literal(!strcmp(digits, "-0") ? "0" : digits);
    }
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        while (isspace((unsigned char)*s)) s++;
        sbuf b = {0};
        if (*s == '+' || *s == '-') { if (*s == '-') sb_putn(&b, "-", 1); s++; }
        int nd = 0, ok = 1;
        for (; *s && !isspace((unsigned char)*s); s++) {
            if (isdigit((unsigned char)*s)) { sb_putn(&b, s, 1); nd++; }
            else if (*s == '_' && nd && isdigit((unsigned char)s[1])) continue;
            else { ok = 0; break; }
        }
        while (ok && isspace((unsigned char)*s)) s++;
        char *lit = sb_take(&b);
        if (!ok || *s || nd == 0 || !lit) {
            free(lit);
            char *r = json_py_repr(v);
            *etype = "ValueError";
            *err = fmt("invalid literal for int() with base 10: %s", r);
            free(r);
            return NULL;
        }
        /* strip leading zeros, keep the sign only for non-zero */
        const char *d = lit + (lit[0] == '-');
        while (d[0] == '0' && d[1]) d++;
        char *norm = fmt(lit[0] == '-' && strcmp(d, "0") ? "-%s" : "%s", d);
        cJSON *out = json_new_int_literal(norm);
        free(norm); free(lit);
        return out;
    }
    *etype = "TypeError";
    *err = fmt("int() argument must be a string, a bytes-like object or a real number, not '%s'", py_type_name(v));
    return NULL;
}

static cJSON *py_float(const cJSON *v, char **err, const char **etype) {
    if (cJSON_IsBool(v)) return json_new_float(cJSON_IsTrue(v));
    if (cJSON_IsNumber(v)) return json_new_float(v->valuedouble);
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        while (isspace((unsigned char)*s)) s++;
        char *end;
        errno = 0;
        int hex = strchr(s, 'x') || strchr(s, 'X');
        double d = strtod(s, &end);
        while (end && isspace((unsigned char)*end)) end++;
        if (!hex && end != s && *end == 0) return json_new_float(d);
        char *r = json_py_repr(v);
        *etype = "ValueError";
        *err = fmt("could not convert string to float: %s", r);
        free(r);
        return NULL;
    }
    *etype = "TypeError";
    *err = fmt("float() argument must be a string or a real number, not '%s'", py_type_name(v));
    return NULL;
}

static int py_truthy(const cJSON *v) {
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v)) return 0;
    if (cJSON_IsNumber(v)) return v->valuedouble != 0;
    if (cJSON_IsString(v)) return v->valuestring[0] != 0;
    if (cJSON_IsArray(v) || cJSON_IsObject(v)) return v->child != NULL;
    return 1;
}

/* Python ==, as `val not in options` uses it. */
static int py_equal(const cJSON *a, const cJSON *b) {
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b)) return json_num_cmp(a, b) == 0;
    if (cJSON_IsString(a) && cJSON_IsString(b)) return !strcmp(a->valuestring, b->valuestring);
    return cJSON_Compare(a, b, 1);
}

/* ---- type matching (spec 4.2) ---- */

static int types_intersect(const char *a, const char *b) {
    char *x = strdup(a), *save = NULL;
    int hit = 0;
    for (char *t = strtok_r(x, ",", &save); t && !hit; t = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*t)) t++;
        size_t tl = strlen(t);
        while (tl && isspace((unsigned char)t[tl - 1])) tl--;
        const char *p = b;
        while (*p && !hit) {
            while (isspace((unsigned char)*p)) p++;
            const char *e = strchr(p, ',');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            size_t ll = l;
            while (ll && isspace((unsigned char)p[ll - 1])) ll--;
            if (ll == tl && !strncmp(p, t, tl)) hit = 1;
            p += l + (e != NULL);
            if (!e) break;
        }
    }
    free(x);
    return hit;
}

static int type_matches(const char *received, const cJSON *expected) {
    if (cJSON_IsArray(expected)) return !strcmp(received, "*") || !strcmp(received, "COMFY_MATCHTYPE_V3");
    const char *e = expected->valuestring;
    if (!strcmp(received, e)) return 1;
    if (!strcmp(received, "*") || !strcmp(e, "*")) return 1;
    if (!strcmp(received, "COMFY_MATCHTYPE_V3") || !strcmp(e, "COMFY_MATCHTYPE_V3")) return 1;
    return types_intersect(received, e);
}

/* ---- per-input checks ---- */

static cJSON *extra_base(const char *input, const cJSON *spec) {
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "input_name", input);
    cJSON_AddItemToObject(x, "input_config", cJSON_Duplicate(spec, 1));
    return x;
}

static void add_error(cJSON *errors, const char *type, const char *message, const char *details, cJSON *extra) {
    cJSON_AddItemToArray(errors, error_object(type, message, details, extra));
}

/* Converts and range-checks one constant; returns 0, or -1 after adding an error. */
static int check_constant(cJSON *inputs, const char *input, const cJSON *spec, int skip_checks,
                          cJSON *errors) {
    cJSON *val = cJSON_GetObjectItemCaseSensitive(inputs, input);
    if (cJSON_IsObject(val) && cJSON_GetObjectItemCaseSensitive(val, "__value__")) {
        cJSON_ReplaceItemInObjectCaseSensitive(inputs, input,
            cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(val, "__value__"), 1));
        val = cJSON_GetObjectItemCaseSensitive(inputs, input);
    }
    const cJSON *type = cJSON_GetArrayItem(spec, 0);
    const cJSON *opts = cJSON_GetArrayItem(spec, 1);
    const char *tn = cJSON_IsString(type) ? type->valuestring : "";
    char *err = NULL;
    const char *etype = NULL;
    cJSON *conv = NULL;
    int converting = 1;
    if (!strcmp(tn, "INT")) conv = py_int(val, &err, &etype);
    else if (!strcmp(tn, "FLOAT")) conv = py_float(val, &err, &etype);
    else if (!strcmp(tn, "STRING")) { char *s = json_py_str(val); conv = cJSON_CreateString(s ? s : ""); free(s); }
    else if (!strcmp(tn, "BOOLEAN")) conv = cJSON_CreateBool(py_truthy(val));
    else converting = 0;
    if (converting && !conv) {
        char *sv = json_py_str(val);
        sbuf m = {0}, d = {0};
        sb_printf(&m, "Failed to convert an input value to a %s value", tn);
        sb_printf(&d, "%s, %s, %s", input, sv, err);
        cJSON *x = extra_base(input, spec);
        cJSON_AddItemToObject(x, "received_value", cJSON_Duplicate(val, 1));
        cJSON_AddStringToObject(x, "exception_message", err);
        char *ms = sb_take(&m), *ds = sb_take(&d);
        add_error(errors, "invalid_input_type", ms, ds, x);
        free(ms); free(ds); free(sv); free(err);
        return -1;
    }
    if (conv) {
        cJSON_ReplaceItemInObjectCaseSensitive(inputs, input, conv);
        val = conv;
    }
    if (skip_checks) return 0;
    const cJSON *mn = cJSON_GetObjectItemCaseSensitive(opts, "min");
    const cJSON *mx = cJSON_GetObjectItemCaseSensitive(opts, "max");
    int below = cJSON_IsNumber(mn) && cJSON_IsNumber(val) && json_num_cmp(val, mn) < 0;
    int above = !below && cJSON_IsNumber(mx) && cJSON_IsNumber(val) && json_num_cmp(val, mx) > 0;
    if (below || above) {
        char *sv = json_py_str(val), *sl = json_py_str(below ? mn : mx);
        sbuf m = {0};
        sb_printf(&m, below ? "Value %s smaller than min of %s" : "Value %s bigger than max of %s", sv, sl);
        cJSON *x = extra_base(input, spec);
        cJSON_AddItemToObject(x, "received_value", cJSON_Duplicate(val, 1));
        char *ms = sb_take(&m);
        add_error(errors, below ? "value_smaller_than_min" : "value_bigger_than_max", ms, input, x);
        free(ms); free(sv); free(sl);
        return -1;
    }
    const cJSON *list = cJSON_IsArray(type) ? type
                      : !strcmp(tn, "COMBO") ? cJSON_GetObjectItemCaseSensitive(opts, "options") : NULL;
    if (cJSON_IsString(type) && !strcmp(tn, "COMBO") && !list) list = NULL;
    if (list || !strcmp(tn, "COMBO")) {
        int multi = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(opts, "multiselect"));
        int found = 1;
        const cJSON *bad = val;
        if (multi && cJSON_IsArray(val)) {
            for (const cJSON *e = val->child; e && found; e = e->next) {
                found = 0;
                for (const cJSON *o = list ? list->child : NULL; o; o = o->next) found |= py_equal(e, o);
                if (!found) bad = e;
            }
        } else {
            found = 0;
            for (const cJSON *o = list ? list->child : NULL; o; o = o->next) found |= py_equal(val, o);
        }
        if (!found) {
            int nopt = list ? cJSON_GetArraySize(list) : 0;
            char *sv = json_py_str(bad);
            sbuf d = {0};
            if (nopt > 20) sb_printf(&d, "%s: '%s' not in (list of length %d)", input, sv, nopt);
            else {
                char *lr = list ? json_py_repr(list) : strdup("[]");
                sb_printf(&d, "%s: '%s' not in %s", input, sv, lr);
                free(lr);
            }
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "input_name", input);
            cJSON_AddItemToObject(x, "input_config", nopt > 20 ? cJSON_CreateNull() : cJSON_Duplicate(spec, 1));
            cJSON_AddItemToObject(x, "received_value", cJSON_Duplicate(val, 1));
            char *ds = sb_take(&d);
            add_error(errors, "value_not_in_list", "Value not in list", ds, x);
            free(ds); free(sv);
            return -1;
        }
    }
    return 0;
}

/* ---- the recursive walk ---- */

static int validate_node(vctx *c, vnode *n);

static void mark_cycle(vctx *c, vnode *target) {
    int start = c->depth - 1;
    while (start >= 0 && c->stack[start] != target) start--;
    int len = c->depth - start;
    for (int k = 0; k < len; k++) {
        vnode *owner = c->stack[start + k];
        sbuf d = {0};
        cJSON *ids = cJSON_CreateArray();
        for (int j = 0; j <= len; j++) {
            vnode *m = c->stack[start + (k + j) % len];
            sb_printf(&d, "%s%s (%s)", j ? " -> " : "", m->id, m->reg->def->name);
            if (j < len) cJSON_AddItemToArray(ids, cJSON_CreateString(m->id));
        }
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "node_id", owner->id);
        cJSON_AddItemToObject(x, "cycle_nodes", ids);
        if (!owner->errors) owner->errors = cJSON_CreateArray();
        char *ds = sb_take(&d);
        add_error(owner->errors, "dependency_cycle", "Dependency cycle detected", ds, x);
        free(ds);
    }
}

/* A linked input: checks the link, then the source node. R_OK, R_INVALID (errors
 * added here or upstream) or R_EXC (raised to our caller). */
static int check_link(vctx *c, const char *input, const cJSON *spec, const cJSON *val,
                      cJSON *errors) {
    if (cJSON_GetArraySize(val) != 2) {
        cJSON *x = extra_base(input, spec);
        cJSON_AddItemToObject(x, "received_value", cJSON_Duplicate(val, 1));
        add_error(errors, "bad_linked_input",
                  "Bad linked input, must be a length-2 list of [node_id, slot_index]", input, x);
        return R_INVALID;
    }
    const cJSON *src_id = cJSON_GetArrayItem(val, 0), *slot = cJSON_GetArrayItem(val, 1);
    vnode *src = cJSON_IsString(src_id) ? find_node(c, src_id->valuestring) : NULL;
    if (!src) return raise(c, "KeyError", json_py_repr(src_id));
    if (!cJSON_IsNumber(slot) || !json_is_int(slot)) {
        const char *tn = cJSON_IsNumber(slot) ? "float" : cJSON_IsString(slot) ? "str"
                       : cJSON_IsBool(slot) ? "bool" : py_type_name(slot);
        if (!cJSON_IsBool(slot)) return raise(c, "TypeError", fmt("tuple indices must be integers or slices, not %s", tn));
    }
    int64_t idx = cJSON_IsBool(slot) ? cJSON_IsTrue(slot) : 0;
    if (!cJSON_IsBool(slot) && json_get_i64(slot, &idx) < 0) idx = INT64_MAX;
    int nout = src->reg->def->n_outputs;
    if (idx < 0) idx += nout;
    if (idx < 0 || idx >= nout) return raise(c, "IndexError", strdup("tuple index out of range"));
    const char *received = src->reg->def->outputs[idx].type;
    if (!type_matches(received, cJSON_GetArrayItem(spec, 0))) {
        sbuf d = {0};
        char *want = cJSON_IsString(cJSON_GetArrayItem(spec, 0)) ? strdup(cJSON_GetArrayItem(spec, 0)->valuestring)
                                                                 : json_py_repr(cJSON_GetArrayItem(spec, 0));
        sb_printf(&d, "%s, received_type(%s) mismatch input_type(%s)", input, received, want);
        cJSON *x = extra_base(input, spec);
        cJSON_AddStringToObject(x, "received_type", received);
        cJSON_AddItemToObject(x, "linked_node", cJSON_Duplicate(val, 1));
        char *ds = sb_take(&d);
        add_error(errors, "return_type_mismatch", "Return type mismatch between linked nodes", ds, x);
        free(ds); free(want);
        return R_INVALID;
    }
    if (src->state == V_ACTIVE) { mark_cycle(c, src); return R_INVALID; }
    int r = validate_node(c, src);
    if (r == R_EXC) {
        cJSON *x = extra_base(input, spec);
        cJSON_AddStringToObject(x, "exception_message", c->exc_msg);
        cJSON_AddStringToObject(x, "exception_type", c->exc_type);
        cJSON_AddArrayToObject(x, "traceback");
        cJSON_AddItemToObject(x, "linked_node", cJSON_Duplicate(val, 1));
        cJSON *reasons = cJSON_CreateArray();
        add_error(reasons, "exception_during_inner_validation", "Exception when validating inner node",
                  c->exc_msg, x);
        record(c, src, V_INVALID, reasons);
        free(c->exc_msg); c->exc_msg = NULL;
        return R_INVALID;
    }
    return r;
}

static int run_custom_validator(vctx *c, vnode *n, cJSON *inputs, cJSON *errors) {
    cJSON *consts = cJSON_CreateObject();
    for (cJSON *i = inputs->child; i; i = i->next)
        if (!cJSON_IsArray(i)) cJSON_AddItemReferenceToObject(consts, i->string, i);
    call_rec r = { .base = { &graph_host }, .node = n->reg, .node_id = n->id, .consts = consts,
                   .index = 0, .prompt = c->prompt };
    char msg[512] = "";
    int rc = n->reg->def->validate(&r.base, msg, sizeof msg);
    cJSON_Delete(consts);
    free(r.err_type); free(r.err_msg);
    if (rc == 0) return 0;
    for (const char *const *p = n->reg->def->validate_inputs; *p; p++) {
        sbuf d = {0};
        sb_printf(&d, msg[0] ? "%s - %s" : "%s", *p, msg);
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "input_name", *p);
        char *ds = sb_take(&d);
        add_error(errors, "custom_validation_failed", "Custom validation failed for node", ds, x);
        free(ds);
    }
    return -1;
}

/* Python's default recursion limit, which bounds ComfyUI's recursive validation; a
 * deeper chain is answered as the RecursionError ComfyUI would report. */
#define MAX_DEPTH 1000

static int validate_node(vctx *c, vnode *n) {
    if (n->state == V_VALID) return R_OK;
    if (n->state == V_INVALID) return R_INVALID;
    if (c->depth >= MAX_DEPTH) return raise(c, "RecursionError", strdup("maximum recursion depth exceeded"));
    n->state = V_ACTIVE;
    c->stack[c->depth++] = n;
    cJSON *inputs = cJSON_GetObjectItemCaseSensitive(n->node, "inputs");
    if (!cJSON_IsObject(inputs)) {
        cJSON *fresh = cJSON_CreateObject();
        if (inputs) cJSON_ReplaceItemInObjectCaseSensitive(n->node, "inputs", fresh);
        else cJSON_AddItemToObject(n->node, "inputs", fresh);
        inputs = fresh;
    }
    cJSON *errors = cJSON_CreateArray();
    int valid = 1, result = R_OK;
    cJSON *names = registry_input_names(n->reg);
    for (cJSON *nm = names->child; nm; nm = nm->next) {
        const char *input = nm->valuestring;
        int optional = 0;
        cJSON *spec = registry_input_spec(n->reg, input, &optional);
        cJSON *val = cJSON_GetObjectItemCaseSensitive(inputs, input);
        if (!val) {
            if (!optional) {
                cJSON *x = cJSON_CreateObject();
                cJSON_AddStringToObject(x, "input_name", input);
                add_error(errors, "required_input_missing", "Required input is missing", input, x);
            }
        } else if (cJSON_IsArray(val)) {
            int r = check_link(c, input, spec, val, errors);
            if (r == R_EXC) { cJSON_Delete(spec); result = R_EXC; break; }
            if (r == R_INVALID) valid = 0;
        } else {
            check_constant(inputs, input, spec, registry_takes_validate(n->reg, input), errors);
        }
        cJSON_Delete(spec);
    }
    cJSON_Delete(names);
    c->depth--;
    if (result == R_EXC) {
        n->state = V_UNSEEN;
        cJSON_Delete(errors);
        return R_EXC;
    }
    if (n->reg->def->validate && n->reg->def->validate_inputs)
        run_custom_validator(c, n, inputs, errors);
    if (n->errors) {   /* a dependency cycle already reported on this node */
        for (cJSON *e = n->errors->child; e; e = e->next)
            cJSON_AddItemToArray(errors, cJSON_Duplicate(e, 1));
    }
    int ok = valid && cJSON_GetArraySize(errors) == 0;
    record(c, n, ok ? V_VALID : V_INVALID, errors);
    return ok ? R_OK : R_INVALID;
}

/* ---- the prompt ---- */

static int fail_missing_type(validation *out, const char *id, const cJSON *node, const char *cls) {
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(node, "_meta"), "title");
    const char *t = cJSON_IsString(title) ? title->valuestring : NULL;
    sbuf m = {0}, d = {0};
    if (cls) sb_printf(&m, "Node '%s' not found. The custom node may not be installed.", t ? t : cls);
    else if (t) sb_printf(&m, "Node '%s' has no class_type. The workflow may be corrupted or a custom node is missing.", t);
    else sb_printf(&m, "Node 'ID #%s' has no class_type. The workflow may be corrupted or a custom node is missing.", id);
    sb_printf(&d, "Node ID '#%s'", id);
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "node_id", id);
    cJSON_AddItemToObject(x, "class_type", cls ? cJSON_CreateString(cls) : cJSON_CreateNull());
    cJSON_AddItemToObject(x, "node_title", t ? cJSON_CreateString(t) : cls ? cJSON_CreateString(cls) : cJSON_CreateNull());
    char *ms = sb_take(&m), *ds = sb_take(&d);
    out->error = error_object("missing_node_type", ms, ds, x);
    free(ms); free(ds);
    return -1;
}

static int in_targets(const cJSON *targets, const char *id) {
    if (!targets || cJSON_IsNull(targets)) return 1;
    for (const cJSON *t = targets->child; t; t = t->next)
        if (cJSON_IsString(t) && !strcmp(t->valuestring, id)) return 1;
    return 0;
}

static int collect_nodes(vctx *c, validation *out) {
    c->n = cJSON_GetArraySize(c->prompt);
    c->nodes = calloc((size_t)c->n + 1, sizeof *c->nodes);
    c->stack = calloc((size_t)c->n + 1, sizeof *c->stack);
    if (!c->nodes || !c->stack) return -1;
    int i = 0;
    for (cJSON *node = c->prompt->child; node; node = node->next, i++) {
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(node, "class_type");
        if (!cJSON_IsObject(node) || !cJSON_IsString(cls))
            return fail_missing_type(out, node->string, node, NULL);
        const reg_node *reg = registry_find(cls->valuestring);
        if (!reg) return fail_missing_type(out, node->string, node, cls->valuestring);
        c->nodes[i] = (vnode){ .id = node->string, .node = node, .reg = reg };
    }
    return 0;
}

/* Every invalid node with reasons, ComfyUI's way: each failing output is appended to
 * the dependent_outputs of every node recorded invalid so far. */
static void note_failed_output(vctx *c, validation *out, const char *output) {
    for (int order = 0; order < c->next_order; order++) {
        for (int i = 0; i < c->n; i++) {
            vnode *n = &c->nodes[i];
            if (n->order != order || n->state != V_INVALID || cJSON_GetArraySize(n->errors) == 0) continue;
            cJSON *e = cJSON_GetObjectItemCaseSensitive(out->node_errors, n->id);
            if (!e) {
                e = cJSON_AddObjectToObject(out->node_errors, n->id);
                cJSON_AddItemToObject(e, "errors", cJSON_Duplicate(n->errors, 1));
                cJSON_AddArrayToObject(e, "dependent_outputs");
                cJSON_AddStringToObject(e, "class_type", n->reg->def->name);
            }
            cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(e, "dependent_outputs"),
                                 cJSON_CreateString(output));
        }
    }
}

void validate_prompt(cJSON *prompt, const cJSON *targets, validation *out) {
    memset(out, 0, sizeof *out);
    out->node_errors = cJSON_CreateObject();
    out->outputs = cJSON_CreateArray();
    if (!cJSON_IsObject(prompt)) {
        out->error = error_object("invalid_prompt", "Invalid prompt", "The prompt must be a JSON object", NULL);
        return;
    }
    vctx c = { .prompt = prompt };
    if (collect_nodes(&c, out) < 0) {
        if (!out->error) out->error = error_object("invalid_prompt", "Out of memory", "", NULL);
        goto done;
    }
    int n_out = 0;
    for (int i = 0; i < c.n; i++)
        n_out += (c.nodes[i].reg->def->flags & CI_OUTPUT_NODE) && in_targets(targets, c.nodes[i].id);
    if (n_out == 0) {
        out->error = error_object("prompt_no_outputs", "Prompt has no outputs", "", NULL);
        goto done;
    }
    sbuf details = {0};
    for (int i = 0; i < c.n; i++) {
        vnode *o = &c.nodes[i];
        if (!(o->reg->def->flags & CI_OUTPUT_NODE) || !in_targets(targets, o->id)) continue;
        int r = validate_node(&c, o);
        if (r == R_EXC) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "exception_type", c.exc_type);
            cJSON_AddArrayToObject(x, "traceback");
            cJSON *reasons = cJSON_CreateArray();
            add_error(reasons, "exception_during_validation", "Exception when validating node", c.exc_msg, x);
            record(&c, o, V_INVALID, reasons);
            free(c.exc_msg); c.exc_msg = NULL;
            r = R_INVALID;
        }
        if (r == R_OK) { cJSON_AddItemToArray(out->outputs, cJSON_CreateString(o->id)); continue; }
        for (cJSON *e = o->errors ? o->errors->child : NULL; e; e = e->next)
            sb_printf(&details, "%s%s: %s", details.len ? "\n" : "",
                      cJSON_GetObjectItem(e, "message")->valuestring,
                      cJSON_GetObjectItem(e, "details")->valuestring);
        note_failed_output(&c, out, o->id);
    }
    char *ds = sb_take(&details);
    if (cJSON_GetArraySize(out->outputs) == 0)
        out->error = error_object("prompt_outputs_failed_validation", "Prompt outputs failed validation", ds, NULL);
    else
        out->ok = 1;
    free(ds);
done:
    for (int i = 0; i < c.n && c.nodes; i++) cJSON_Delete(c.nodes[i].errors);
    free(c.nodes); free(c.stack); free(c.exc_msg);
}

void validation_free(validation *v) {
    cJSON_Delete(v->error);
    cJSON_Delete(v->node_errors);
    cJSON_Delete(v->outputs);
    memset(v, 0, sizeof *v);
}
