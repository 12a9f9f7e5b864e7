/* listen.h -- listening sockets: our own (one per --listen address) or systemd's.
 *
 * Each address is bound with the same port; IPv6 sockets are v6-only so "0.0.0.0,::"
 * binds both families side by side. Under socket activation (a .socket unit) systemd
 * passes already-listening sockets and --listen/--port are not used.
 */
#ifndef CI_SERVER_LISTEN_H
#define CI_SERVER_LISTEN_H

#include <stddef.h>

#define LISTEN_MAX 16

/* Sockets passed by systemd (sd_listen_fds); returns how many (0 when none). */
int listen_inherited(int *fds, int max);
/* Binds and listens on every address of the comma-separated list. Returns the number of
 * sockets, or -1 with a message in err (nothing left open). */
int listen_open(const char *addresses, int port, int *fds, int max, char *err, size_t errlen);
/* "127.0.0.1:8188" / "[::1]:8188" for a listening socket. */
void listen_describe(int fd, char *out, size_t cap);

#endif
