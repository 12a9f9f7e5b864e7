/* server.h -- the HTTP/WebSocket front door: what the daemon starts and stops.
 *
 * server_start binds the listening sockets (or takes the ones systemd passed), starts a
 * libmicrohttpd daemon with a thread pool per socket, installs the WebSocket hub as the
 * graph's event sink and returns. server_stop closes WebSocket clients and stops the
 * daemons. Options are copied by pointer: the caller keeps them alive while running.
 */
#ifndef CI_SERVER_SERVER_H
#define CI_SERVER_SERVER_H

#include <stddef.h>
#include <stdint.h>

typedef struct server_options {
    const char *listen;          /* comma-separated addresses */
    int port;
    const char *tls_key_file;    /* both set: https/wss */
    const char *tls_cert_file;
    const char *cors_origin;     /* NULL or "": same-origin guard */
    double max_upload_mb;
    int max_upload_given;        /* report max_upload_size as a float, as ComfyUI */
    int multi_user;
    int disable_api_nodes;
    const char *front_end_root;  /* NULL or "": no frontend */
    const char *const *feature_flags;   /* KEY or KEY=VALUE */
    int n_feature_flags;
    const char *hash_name;       /* md5|sha1|sha256|sha512 */
    int threads;                 /* per listening socket; 0 = 4 */
    int argc;
    char **argv;
} server_options;

int server_start(const server_options *opts, char *err, size_t errlen);
void server_stop(void);
const server_options *server_opts(void);
/* "127.0.0.1:8188, [::1]:8188" -- what is listening, for logs and sd_notify STATUS. */
const char *server_describe(void);

#endif
