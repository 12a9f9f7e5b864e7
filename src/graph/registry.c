/* registry.c -- node types, looked up by class name, and their /object_info entries.
 *
 * A type's INPUT_TYPES JSON is parsed once at registration (so a malformed pack is
 * refused at start, not at the first prompt). Query-time combo lists (an input whose
 * declared option list is []) are asked of the node every time an entry is generated
 * or an input spec is needed for validation, as ComfyUI rescans model folders.
 * Registration order is /object_info order.
 */
#include "graph/graph.h"

#include <stdlib.h>
#include <string.h>
#include "base/log.h"

static reg_node *nodes;
static int n_nodes, cap_nodes;

static int inputs_valid(const cJSON *in) {
    if (!cJSON_IsObject(in)) return 0;
    for (const cJSON *cat = in->child; cat; cat = cat->next) {
        if (!cJSON_IsObject(cat)) return 0;
        int hidden = !strcmp(cat->string, "hidden");
        for (const cJSON *spec = cat->child; spec; spec = spec->next) {
            if (hidden ? !cJSON_IsString(spec) && !cJSON_IsArray(spec)
                       : !cJSON_IsArray(spec) || cJSON_GetArraySize(spec) < 1)
                return 0;
        }
    }
    return 1;
}

int registry_add(const ci_node_def *def) {
    if (!def || def->abi_version != CI_ABI_VERSION || !def->name || !def->run) {
        log_error("registry: node %s refused (ABI version or missing fields)",
                  def && def->name ? def->name : "?");
        return -1;
    }
    if (registry_find(def->name)) {
        log_warn("registry: node %s registered twice; keeping the first", def->name);
        return -1;
    }
    const char *text = def->inputs ? def->inputs : "{}";
    cJSON *in = json_parse(text, strlen(text));
    if (!inputs_valid(in)) {
        log_error("registry: node %s has malformed INPUT_TYPES JSON", def->name);
        cJSON_Delete(in);
        return -1;
    }
    if (n_nodes == cap_nodes) {
        int cap = cap_nodes ? cap_nodes * 2 : 64;
        reg_node *p = realloc(nodes, (size_t)cap * sizeof *p);
        if (!p) { cJSON_Delete(in); return -1; }
        nodes = p; cap_nodes = cap;
    }
    nodes[n_nodes++] = (reg_node){ def, in };
    return 0;
}

const reg_node *registry_find(const char *name) {
    if (!name) return NULL;
    for (int i = 0; i < n_nodes; i++)
        if (!strcmp(nodes[i].def->name, name)) return &nodes[i];
    return NULL;
}

void registry_clear(void) {
    for (int i = 0; i < n_nodes; i++) cJSON_Delete(nodes[i].inputs);
    free(nodes);
    nodes = NULL; n_nodes = cap_nodes = 0;
}

/* Spec with a query-time option list filled in (a duplicate either way). */
static cJSON *spec_resolved(const reg_node *n, const char *input, const cJSON *spec) {
    cJSON *out = cJSON_Duplicate(spec, 1);
    cJSON *type = cJSON_GetArrayItem(out, 0);
    cJSON *v3 = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(out, 1), "options");
    int legacy = cJSON_IsArray(type) && cJSON_GetArraySize(type) == 0;
    int combo = cJSON_IsString(type) && !strcmp(type->valuestring, "COMBO") && cJSON_IsArray(v3) &&
                cJSON_GetArraySize(v3) == 0;
    if (out && n->def->options && (legacy || combo)) {
        cJSON *opts = n->def->options(&graph_host, input);
        if (opts && legacy) cJSON_ReplaceItemInArray(out, 0, opts);
        else if (opts) cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetArrayItem(out, 1), "options", opts);
    }
    return out;
}

cJSON *registry_input_spec(const reg_node *n, const char *input, int *optional) {
    static const char *cats[] = { "required", "optional" };
    for (int c = 0; c < 2; c++) {
        const cJSON *spec = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(n->inputs, cats[c]), input);
        if (spec) {
            if (optional) *optional = c == 1;
            return spec_resolved(n, input, spec);
        }
    }
    return NULL;
}

cJSON *registry_input_names(const reg_node *n) {
    cJSON *names = cJSON_CreateArray();
    static const char *cats[] = { "required", "optional" };
    for (int c = 0; c < 2; c++) {
        const cJSON *cat = cJSON_GetObjectItemCaseSensitive(n->inputs, cats[c]);
        for (const cJSON *s = cat ? cat->child : NULL; s; s = s->next)
            cJSON_AddItemToArray(names, cJSON_CreateString(s->string));
    }
    return names;
}

const char *registry_hidden(const reg_node *n, const char *input) {
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(n->inputs, "hidden"), input);
    if (cJSON_IsArray(h)) h = cJSON_GetArrayItem(h, 0);   /* V3 style ["PROMPT"] */
    return cJSON_IsString(h) ? h->valuestring : NULL;
}

int registry_takes_validate(const reg_node *n, const char *input) {
    if (!n->def->validate || !n->def->validate_inputs) return 0;
    for (const char *const *p = n->def->validate_inputs; *p; p++)
        if (!strcmp(*p, input)) return 1;
    return 0;
}

static cJSON *str_or_empty(const char *s) { return cJSON_CreateString(s ? s : ""); }

static cJSON *aliases_json(const ci_node_def *d, int null_when_empty) {
    if (null_when_empty && (!d->search_aliases || !*d->search_aliases)) return cJSON_CreateNull();
    cJSON *a = cJSON_CreateArray();
    for (const char *const *p = d->search_aliases; p && *p; p++) cJSON_AddItemToArray(a, cJSON_CreateString(*p));
    return a;
}

/* One /object_info entry. Classic (V1) nodes: ComfyUI's key order, optional keys only
 * when set. V3 nodes: every key, nulls included, in the dataclass order. */
cJSON *registry_object_info(const reg_node *n) {
    const ci_node_def *d = n->def;
    int v3 = d->flags & CI_SCHEMA_V3;
    cJSON *e = cJSON_CreateObject();
    cJSON *input = cJSON_AddObjectToObject(e, "input");
    cJSON *order = cJSON_CreateObject();
    for (const cJSON *cat = n->inputs->child; cat; cat = cat->next) {
        cJSON *dst = cJSON_AddObjectToObject(input, cat->string);
        cJSON *names = cJSON_AddArrayToObject(order, cat->string);
        for (const cJSON *s = cat->child; s; s = s->next) {
            cJSON_AddItemToObject(dst, s->string, strcmp(cat->string, "hidden")
                                  ? spec_resolved(n, s->string, s) : cJSON_Duplicate(s, 1));
            cJSON_AddItemToArray(names, cJSON_CreateString(s->string));
        }
    }
    cJSON_AddItemToObject(e, "input_order", order);
    cJSON_AddBoolToObject(e, "is_input_list", !!(d->flags & CI_INPUT_IS_LIST));
    cJSON *out = cJSON_AddArrayToObject(e, "output");
    cJSON *is_list = cJSON_AddArrayToObject(e, "output_is_list");
    cJSON *names = cJSON_AddArrayToObject(e, "output_name");
    int tooltips = 0;
    for (int i = 0; i < d->n_outputs; i++) {
        const ci_output_def *o = &d->outputs[i];
        cJSON_AddItemToArray(out, cJSON_CreateString(o->type));
        cJSON_AddItemToArray(is_list, cJSON_CreateBool(o->is_list));
        cJSON_AddItemToArray(names, cJSON_CreateString(o->name ? o->name : o->type));
        tooltips |= o->tooltip != NULL;
    }
    cJSON *tt = NULL;
    if (d->output_tooltips) {
        tt = cJSON_CreateArray();
        for (const char *const *t = d->output_tooltips; *t; t++) cJSON_AddItemToArray(tt, cJSON_CreateString(*t));
    } else if (tooltips || v3) {
        tt = cJSON_CreateArray();
        for (int i = 0; i < d->n_outputs; i++)
            cJSON_AddItemToArray(tt, d->outputs[i].tooltip ? cJSON_CreateString(d->outputs[i].tooltip)
                                     : v3 ? cJSON_CreateNull() : cJSON_CreateString(""));
    }
    if (v3) {
        cJSON_AddItemToObject(e, "output_tooltips", tt);
        cJSON_AddNullToObject(e, "output_matchtypes");
    }
    cJSON_AddStringToObject(e, "name", d->name);
    cJSON_AddItemToObject(e, "display_name", cJSON_CreateString(d->display_name ? d->display_name : d->name));
    cJSON_AddItemToObject(e, "description", str_or_empty(d->description));
    cJSON_AddStringToObject(e, "python_module", d->python_module ? d->python_module : "nodes");
    cJSON_AddItemToObject(e, "category", str_or_empty(d->category));
    cJSON_AddBoolToObject(e, "output_node", !!(d->flags & CI_OUTPUT_NODE));
    if (v3) {
        cJSON_AddBoolToObject(e, "deprecated", !!(d->flags & CI_DEPRECATED));
        cJSON_AddBoolToObject(e, "experimental", !!(d->flags & CI_EXPERIMENTAL));
        cJSON_AddBoolToObject(e, "dev_only", !!(d->flags & CI_DEV_ONLY));
        cJSON_AddFalseToObject(e, "api_node");
        cJSON_AddNullToObject(e, "price_badge");
        cJSON_AddItemToObject(e, "search_aliases", aliases_json(d, 1));
        cJSON_AddItemToObject(e, "essentials_category", d->essentials_category
                              ? cJSON_CreateString(d->essentials_category) : cJSON_CreateNull());
        cJSON_AddBoolToObject(e, "has_intermediate_output", !!(d->flags & CI_HAS_INTERMEDIATE_OUTPUT));
        return e;
    }
    cJSON_AddBoolToObject(e, "has_intermediate_output", !!(d->flags & CI_HAS_INTERMEDIATE_OUTPUT));
    if (tt) cJSON_AddItemToObject(e, "output_tooltips", tt);
    if (d->flags & CI_DEPRECATED) cJSON_AddTrueToObject(e, "deprecated");
    if (d->flags & CI_EXPERIMENTAL) cJSON_AddTrueToObject(e, "experimental");
    if (d->flags & CI_DEV_ONLY) cJSON_AddTrueToObject(e, "dev_only");
    cJSON_AddItemToObject(e, "search_aliases", aliases_json(d, 0));
    if (d->essentials_category) cJSON_AddStringToObject(e, "essentials_category", d->essentials_category);
    return e;
}

graph_reply graph_object_info(const char *node_class) {
    cJSON *all = cJSON_CreateObject();
    for (int i = 0; i < n_nodes; i++)
        if (!node_class || !strcmp(node_class, nodes[i].def->name))
            cJSON_AddItemToObject(all, nodes[i].def->name, registry_object_info(&nodes[i]));
    return reply_json(200, all);
}
