/* routes.h -- every route handler, grouped by the file that implements it. */
#ifndef CI_SERVER_ROUTES_H
#define CI_SERVER_ROUTES_H

#include "server/http.h"

#define ROUTE(name) void name(const http_request *req, http_response *res)

/* routes_system.c: versions, RAM, devices, feature flags, logs */
ROUTE(route_system_stats);
ROUTE(route_features);
ROUTE(route_extensions);
ROUTE(route_i18n);
ROUTE(route_workflow_templates);
ROUTE(route_global_subgraphs);
ROUTE(route_global_subgraph);
ROUTE(route_node_replacements);
ROUTE(route_internal_logs);
ROUTE(route_internal_logs_raw);
ROUTE(route_internal_logs_subscribe);
ROUTE(route_assets_disabled);
/* routes_models.c: model folders and files */
ROUTE(route_embeddings);
ROUTE(route_models);
ROUTE(route_models_folder);
ROUTE(route_experiment_models);
ROUTE(route_experiment_models_folder);
ROUTE(route_experiment_models_preview);
ROUTE(route_view_metadata);
ROUTE(route_internal_folder_paths);
ROUTE(route_internal_files);
/* routes_user.c: users, settings, user data */
ROUTE(route_users_get);
ROUTE(route_users_post);
ROUTE(route_settings_get);
ROUTE(route_settings_post);
ROUTE(route_setting_get);
ROUTE(route_setting_post);
ROUTE(route_userdata_list);
ROUTE(route_userdata_v2);
ROUTE(route_userdata_get);
ROUTE(route_userdata_post);
ROUTE(route_userdata_delete);
ROUTE(route_userdata_move);
/* routes_files.c: /view and uploads */
ROUTE(route_view);
ROUTE(route_upload_image);
ROUTE(route_upload_mask);
/* routes_static.c: the frontend */
ROUTE(route_index);
ROUTE(route_static);
/* routes_graph.c: prompt, queue, history, jobs, object_info */
ROUTE(route_prompt_get);
ROUTE(route_prompt_post);
ROUTE(route_queue_get);
ROUTE(route_queue_post);
ROUTE(route_interrupt);
ROUTE(route_free);
ROUTE(route_history_get);
ROUTE(route_history_item);
ROUTE(route_history_post);
ROUTE(route_jobs);
ROUTE(route_job);
ROUTE(route_job_cancel);
ROUTE(route_jobs_cancel);
ROUTE(route_object_info);
ROUTE(route_object_info_class);
/* ws_hub.c: the WebSocket endpoint */
ROUTE(route_ws);

#endif
