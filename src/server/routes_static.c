/* routes_static.c -- the frontend: "/" is its index.html, any other unmatched GET a
 * file under --front-end-root (confined to that folder), else 404.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "server/mime.h"
#include "server/routes.h"
#include "server/safepath.h"
#include "server/server.h"

static const char *front_root(void) {
    const char *r = server_opts()->front_end_root;
    return r && r[0] ? r : NULL;
}

ROUTE(route_index) {
    char path[PATH_MAX];
    const char *root = front_root();
    if (!root || safepath_join(root, "index.html", path, sizeof path) ||
        http_reply_file(req, res, path, "text/html; charset=utf-8")) {
        http_reply_error(res, 404);
        return;
    }
    http_set_header(res, "Cache-Control", "no-store, must-revalidate");
    http_set_header(res, "Pragma", "no-cache");
    http_set_header(res, "Expires", "0");
}

ROUTE(route_static) {
    const char *root = front_root();
    char *rel = http_decode(req->path + 1, strlen(req->path + 1), 0);
    char path[PATH_MAX];
    int ok = root && rel && rel[0] && !safepath_join(root, rel, path, sizeof path);
    if (ok) {
        const char *type = mime_guess(path);
        ok = !http_reply_file(req, res, path, type ? type : "application/octet-stream");
    }
    free(rel);
    if (!ok) http_reply_error(res, 404);
}
