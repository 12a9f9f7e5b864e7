/* dirwalk.h -- depth-first walk of a folder tree, with paths relative to its root.
 *
 * The model folder lists and /v2/userdata both list a tree; they differ only in what
 * they keep and whether symlinks are followed, so the walk itself lives here once.
 * Depth is capped (symlink loops); paths that do not fit PATH_MAX are skipped.
 */
#ifndef CI_DIRWALK_H
#define CI_DIRWALK_H

#include <sys/stat.h>

/* Called for every entry but "." and "..": rel is the path below the root, name the last
 * component, st its stat (lstat when not following links). For a directory, return
 * nonzero to descend into it; the return value is ignored for other entries. */
typedef int (*dirwalk_fn)(void *ud, const char *rel, const char *name, const struct stat *st);

/* Walks the tree under root/start ("" for root itself); rel paths stay relative to root. */
void dirwalk(const char *root, const char *start, int follow_links, dirwalk_fn fn, void *ud);

#endif
