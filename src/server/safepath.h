/* safepath.h -- keeping request-derived paths inside their root folder.
 *
 * Every file route (/view, uploads, /userdata, model previews) builds its path here.
 * A relative path is refused when it is absolute, has a ".." component, or resolves
 * (following symlinks as far as the path exists) to somewhere outside the root; so
 * "..", "%2e%2e" (decoded before it gets here), "/etc/passwd" and a symlink pointing
 * out of the folder are all stopped.
 */
#ifndef CI_SERVER_SAFEPATH_H
#define CI_SERVER_SAFEPATH_H

#include <stddef.h>

/* out = root/rel when it stays inside root; returns 0, or -1 (out is then ""). An empty
 * rel gives the root itself. */
int safepath_join(const char *root, const char *rel, char *out, size_t cap);
/* 1 when path (which must exist, or whose parent must) lies inside root. */
int safepath_inside(const char *root, const char *path);

#endif
