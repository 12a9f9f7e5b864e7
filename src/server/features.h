/* features.h -- the server's feature flags (GET /features and the WebSocket reply). */
#ifndef CI_SERVER_FEATURES_H
#define CI_SERVER_FEATURES_H

#include <cjson/cJSON.h>

/* ComfyUI's five flags plus --feature-flag entries (which cannot override them). */
cJSON *features_object(void);

#endif
