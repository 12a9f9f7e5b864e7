/* save_path.c -- where SaveImage, PreviewImage and SaveLatent write (spec 7.3).
 *
 * %width%/%height%/%year%... are substituted in the prefix, its directory part
 * becomes the subfolder (which must stay inside the folder), and the counter
 * continues after the highest "<name>_<digits>_" already there (an entry whose digits
 * do not parse counts as 0, as ComfyUI's int() fallback does).
 */
#include "core.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include "base/json.h"

/* ---- file naming ---- */

static char *substitute(const char *prefix, int64_t w, int64_t h) {
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    static const char *const vars[8] = { "%width%", "%height%", "%year%", "%month%",
                                         "%day%", "%hour%", "%minute%", "%second%" };
    char vals[8][24];
    snprintf(vals[0], 24, "%lld", (long long)w);
    snprintf(vals[1], 24, "%lld", (long long)h);
    snprintf(vals[2], 24, "%d", tm.tm_year + 1900);
    snprintf(vals[3], 24, "%02d", tm.tm_mon + 1);
    snprintf(vals[4], 24, "%02d", tm.tm_mday);
    snprintf(vals[5], 24, "%02d", tm.tm_hour);
    snprintf(vals[6], 24, "%02d", tm.tm_min);
    snprintf(vals[7], 24, "%02d", tm.tm_sec);
    sbuf b = {0};
    for (const char *p = prefix; *p;) {
        int hit = -1;
        for (int i = 0; i < 8 && hit < 0; i++)
            if (!strncmp(p, vars[i], strlen(vars[i]))) hit = i;
        if (hit >= 0) { sb_puts(&b, vals[hit]); p += strlen(vars[hit]); }
        else sb_putn(&b, p++, 1);
    }
    return sb_take(&b);
}

/* os.path.normpath on a relative POSIX path: drops "." and empty parts, folds "..";
 * a ".." that climbs out of the root is kept (and refused by the caller). */
static char *normpath(const char *path) {
    char *copy = strdup(path), *save = NULL;
    if (!copy) return NULL;
    char *parts[256];
    int n = 0, absolute = path[0] == '/';
    for (char *t = strtok_r(copy, "/", &save); t && n < 256; t = strtok_r(NULL, "/", &save)) {
        if (!strcmp(t, ".")) continue;
        if (!strcmp(t, "..") && n > 0 && strcmp(parts[n - 1], "..")) { n--; continue; }
        parts[n++] = t;
    }
    sbuf b = {0};
    if (absolute) sb_puts(&b, "/");
    for (int i = 0; i < n; i++) { if (i) sb_puts(&b, "/"); sb_puts(&b, parts[i]); }
    if (!n && !absolute) sb_puts(&b, ".");
    free(copy);
    return sb_take(&b);
}

/* Next counter for "<name>_NNNNN_..." files in dir (ComfyUI's map_filename). */
static int64_t next_counter(const char *dir, const char *name) {
    DIR *d = opendir(dir);
    if (!d) return 1;
    size_t nl = strlen(name);
    int64_t best = 0;
    int any = 0;
    for (struct dirent *e; (e = readdir(d));) {
        const char *f = e->d_name;
        if (strlen(f) < nl + 1 || strncmp(f, name, nl) || f[nl] != '_') continue;   /* normcase is identity on POSIX */
        const char *digits = f + nl + 1;
        int64_t v = 0;
        int ok = isdigit((unsigned char)*digits) != 0;
        for (const char *q = digits; ok && *q && *q != '_'; q++) {
            if (!isdigit((unsigned char)*q) || v > INT64_MAX / 10 - 9) ok = 0;
            else v = v * 10 + (*q - '0');
        }
        if (!ok) v = 0;    /* int() failed: ComfyUI counts it as 0 */
        if (!any || v > best) best = v;
        any = 1;
    }
    closedir(d);
    return any ? best + 1 : 1;
}

static int mkdirs(const char *path) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') { *p = 0; if (mkdir(tmp, 0755) && errno != EEXIST) return -1; *p = '/'; }
    return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

int save_path_make(ci_call *c, ci_dir where, const char *prefix, int64_t w, int64_t h, save_path *sp) {
    memset(sp, 0, sizeof *sp);
    const char *root = c->host->dir(where);
    if (!root) return ci_fail(c, "RuntimeError", "no folder configured to save into");
    char *sub = strchr(prefix, '%') ? substitute(prefix, w, h) : strdup(prefix);
    char *norm = sub ? normpath(sub) : NULL;
    free(sub);
    if (!norm) return ci_fail(c, "MemoryError", "out of memory");
    if (norm[0] == '/' || !strncmp(norm, "../", 3) || !strcmp(norm, "..")) {
        free(norm);
        return ci_fail(c, "Exception", "**** ERROR: Saving image outside the output folder is not allowed.\n"
                                       " full_output_folder: %s\n         output_dir: %s", prefix, root);
    }
    char *slash = strrchr(norm, '/');
    sp->norm = norm;
    sp->name = slash ? slash + 1 : norm;
    sp->subfolder = slash ? norm : "";
    if (slash) *slash = 0;
    snprintf(sp->dir, sizeof sp->dir, "%s%s%s", root, *sp->subfolder ? "/" : "", sp->subfolder);
    if (mkdirs(sp->dir) < 0) { save_path_free(sp); return ci_fail(c, "OSError", "cannot create the folder %s", sp->dir); }
    sp->counter = next_counter(sp->dir, sp->name);
    return 0;
}

void save_path_free(save_path *sp) {
    free(sp->norm);
    sp->norm = NULL;
}
