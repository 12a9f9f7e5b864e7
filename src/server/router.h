/* router.h -- maps method + path to a handler, with ComfyUI's /api aliasing.
 *
 * Patterns are matched on the raw path (so "%2F" stays inside one segment, as the
 * /userdata routes need) and parameters are percent-decoded afterwards. A route answers
 * at its own path and, unless marked otherwise, with "/api" in front. A path that
 * matches routes of other methods gets 405 with Allow; HEAD runs the GET handler; an
 * unmatched GET falls through to the frontend's static files, then 404.
 */
#ifndef CI_SERVER_ROUTER_H
#define CI_SERVER_ROUTER_H

#include "server/http.h"

typedef void (*route_fn)(const http_request *req, http_response *res);

void router_dispatch(http_request *req, http_response *res);

#endif
