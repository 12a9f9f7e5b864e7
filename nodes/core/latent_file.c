/* latent_file.c -- SaveLatent and LoadLatent: ComfyUI's .latent files.
 *
 * A .latent file is safetensors with "latent_tensor" (the samples) and an empty
 * "latent_format_version_0" marker; files without the marker are from before SD's
 * scale factor was applied and are multiplied by 1/0.18215 on load. The metadata
 * carries the prompt and extra_pnginfo as PNGs do.
 */
#include "core.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "base/image.h"
#include "io/ckpt.h"
#include "io/safetensors.h"

static int save_latent_run(ci_call *c) {
    const ci_latent *l = ci_get_object(c, "samples", CI_TYPE_LATENT);
    if (!l) return ci_fail(c, "TypeError", "samples is not a LATENT");
    const char *prefix = ci_get_string(c, "filename_prefix");
    save_path sp;
    if (save_path_make(c, CI_DIR_OUTPUT, prefix ? prefix : "ComfyUI", 0, 0, &sp) < 0) return -1;
    char file[PATH_MAX], path[PATH_MAX * 2], err[300];
    snprintf(file, sizeof file, "%s_%05lld_.latent", sp.name, (long long)sp.counter);
    snprintf(path, sizeof path, "%s/%s", sp.dir, file);

    png_text_kv kv[64];
    int n_kv = core_metadata(c, kv, 64);
    const char *meta[128];
    int has_prompt = n_kv > 0 && !strcmp(kv[0].key, "prompt");
    size_t nmeta = 0;
    if (!c->host->disable_metadata() && !has_prompt) { meta[0] = "prompt"; meta[1] = ""; nmeta = 1; }
    for (int i = 0; i < n_kv; i++) { meta[2 * nmeta] = kv[i].key; meta[2 * nmeta + 1] = kv[i].text; nmeta++; }

    int64_t zero = 0;
    tensor *marker = tensor_new(DT_F32, 1, &zero);
    const char *names[2] = { "latent_tensor", "latent_format_version_0" };
    const tensor *ts[2] = { l->samples, marker };
    int rc = marker ? st_save(path, names, ts, 2, meta, nmeta, err, sizeof err) : -1;
    if (!marker) snprintf(err, sizeof err, "out of memory");
    tensor_free(marker);
    for (int i = 0; i < n_kv; i++) free(kv[i].text);
    if (rc < 0) { save_path_free(&sp); return ci_fail(c, "OSError", "%s", err); }
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "filename", file);
    cJSON_AddStringToObject(item, "subfolder", sp.subfolder);
    cJSON_AddStringToObject(item, "type", "output");
    c->host->ui_add(c, "latents", item);
    save_path_free(&sp);
    return 0;
}

const ci_node_def core_save_latent = {
    .abi_version = CI_ABI_VERSION, .name = "SaveLatent", .category = "_for_testing",
    .inputs = "{\"required\": {\"samples\": [\"LATENT\"], \"filename_prefix\": [\"STRING\", {\"default\": \"latents/ComfyUI\"}]}, \"hidden\": {\"prompt\": \"PROMPT\", \"extra_pnginfo\": \"EXTRA_PNGINFO\"}}",
    .n_outputs = 0,
    .flags = CI_OUTPUT_NODE,
    .run = save_latent_run,
};

/* ---- LoadLatent ---- */

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static cJSON *latent_files(const ci_host *host, const char *input) {
    if (strcmp(input, "latent")) return NULL;
    const char *dir = host->dir(CI_DIR_INPUT);
    DIR *d = dir ? opendir(dir) : NULL;
    char *names[4096];
    size_t n = 0;
    for (struct dirent *e; d && n < 4096 && (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (l < 7 || strcmp(e->d_name + l - 7, ".latent") || stat(path, &st) || !S_ISREG(st.st_mode)) continue;
        if ((names[n] = strdup(e->d_name))) n++;
    }
    if (d) closedir(d);
    if (n) qsort(names, n, sizeof *names, str_cmp);
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) { cJSON_AddItemToArray(list, cJSON_CreateString(names[i])); free(names[i]); }
    return list;
}

static int latent_exists(ci_call *c, char *msg, size_t msglen) {
    const char *name = ci_get_string(c, "latent");
    char path[PATH_MAX];
    if (name && core_annotated_path(c->host, name, path, sizeof path) == 0) return 0;
    snprintf(msg, msglen, "Invalid latent file: %s", name ? name : "None");
    return -1;
}

static int load_latent_run(ci_call *c) {
    const char *name = ci_get_string(c, "latent");
    char path[PATH_MAX], *err = NULL;
    if (!name || core_annotated_path(c->host, name, path, sizeof path) < 0)
        return ci_fail(c, "FileNotFoundError", "[Errno 2] No such file or directory: '%s'", name ? name : "");
    ckpt *f = ckpt_open(path, &err);
    if (!f) { ci_fail(c, "safetensors.SafetensorError", "%s", err ? err : "cannot read"); free(err); return -1; }
    const tensor *t = ckpt_get(f, "latent_tensor");
    tensor *s = t && t->ndim == 4 ? tensor_to_f32(t) : NULL;
    float k = ckpt_get(f, "latent_format_version_0") ? 1.0f : 1.0f / 0.18215f;
    ckpt_close(f);
    if (!s) return ci_fail(c, "KeyError", "'latent_tensor' (a 4-d tensor) not in %s", name);
    float *d = s->data;
    for (int64_t i = 0, n = tensor_numel(s); i < n && k != 1.0f; i++) d[i] *= k;
    return set_latent(c, 0, latent_new(s));
}

static const ci_output_def latent_out[] = { { "LATENT", NULL, 0, NULL } };
static const char *const validates_latent[] = { "latent", NULL };
static char *latent_sha256(ci_call *c) { return core_file_sha256(c, "latent"); }

const ci_node_def core_load_latent = {
    .abi_version = CI_ABI_VERSION, .name = "LoadLatent", .category = "_for_testing",
    .inputs = "{\"required\": {\"latent\": [[]]}}",
    .outputs = latent_out, .n_outputs = 1,
    .options = latent_files,
    .validate_inputs = validates_latent, .validate = latent_exists,
    .fingerprint = latent_sha256,
    .run = load_latent_run,
};
