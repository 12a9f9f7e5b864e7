/* dirwalk.c -- see dirwalk.h. */
#include "base/dirwalk.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#define DIRWALK_MAX_DEPTH 32

static void dirwalk_at(const char *root, const char *rel, int depth, int follow, dirwalk_fn fn, void *ud) {
    if (depth > DIRWALK_MAX_DEPTH) return;
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s%s%s", root, rel[0] ? "/" : "", rel) >= (int)sizeof dir) return;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char child_rel[PATH_MAX], child[PATH_MAX];
        if (snprintf(child_rel, sizeof child_rel, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >= (int)sizeof child_rel) continue;
        if (snprintf(child, sizeof child, "%s/%s", dir, e->d_name) >= (int)sizeof child) continue;
        struct stat st;
        if (follow ? stat(child, &st) : lstat(child, &st)) continue;
        if (fn(ud, child_rel, e->d_name, &st) && S_ISDIR(st.st_mode))
            dirwalk_at(root, child_rel, depth + 1, follow, fn, ud);
    }
    closedir(d);
}

void dirwalk(const char *root, const char *start, int follow_links, dirwalk_fn fn, void *ud) {
    dirwalk_at(root, start, 0, follow_links, fn, ud);
}
