/* listen.c -- binding sockets and socket activation (see listen.h). */
#include "server/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

int listen_inherited(int *fds, int max) {
    int n = sd_listen_fds(1);
    if (n <= 0) return 0;
    if (n > max) n = max;
    for (int i = 0; i < n; i++) fds[i] = SD_LISTEN_FDS_START + i;
    return n;
}

static int bind_one(const char *addr, int port, char *err, size_t errlen) {
    char host[256], service[16];
    snprintf(service, sizeof service, "%d", port);
    /* "[::1]" is accepted as well as "::1". */
    size_t n = strlen(addr);
    if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') snprintf(host, sizeof host, "%.*s", (int)(n - 2), addr + 1);
    else snprintf(host, sizeof host, "%s", addr);

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    int rc = getaddrinfo(host, service, &hints, &ai);
    if (rc) {
        snprintf(err, errlen, "cannot listen on '%s': %s", addr, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        snprintf(err, errlen, "cannot listen on '%s': %s", addr, strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    /* Accepted sockets inherit it: answers are small and written in pieces. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 128)) {
        snprintf(err, errlen, "cannot listen on %s port %d: %s", addr, port, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

int listen_open(const char *addresses, int port, int *fds, int max, char *err, size_t errlen) {
    char list[512];
    snprintf(list, sizeof list, "%s", addresses);
    int n = 0;
    for (char *save, *a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
        while (*a == ' ') a++;
        if (!*a) continue;
        if (n == max) break;
        int fd = bind_one(a, port, err, errlen);
        if (fd < 0) {
            while (n > 0) close(fds[--n]);
            return -1;
        }
        fds[n++] = fd;
    }
    if (n == 0) snprintf(err, errlen, "no address to listen on in '%s'", addresses);
    return n ? n : -1;
}

void listen_describe(int fd, char *out, size_t cap) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (!getsockname(fd, (struct sockaddr *)&ss, &len)) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
            port = ntohs(s6->sin6_port);
            snprintf(out, cap, "[%s]:%d", host, port);
            return;
        }
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
        port = ntohs(s4->sin_port);
    }
    snprintf(out, cap, "%s:%d", host, port);
}
