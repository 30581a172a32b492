/* What the floor programs share. reserve_port: the sockets the daemon holds for one port, tcp
 * and udp, IPv4 and IPv6-only, bound to the wildcard address, no SO_REUSEADDR, no listen(); the
 * four descriptors go to fds when it is not NULL. ready_and_wait: READY=1 to NOTIFY_SOCKET, then
 * nothing until killed. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void reserve_port(int port, int *fds) {
    int one = 1;
    for (int i = 0; i < 4; i++) {
        int v6 = i >= 2, fd = socket(v6 ? AF_INET6 : AF_INET, i % 2 ? SOCK_DGRAM : SOCK_STREAM, 0);
        if (v6) {
            struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = in6addr_any};
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
            bind(fd, (struct sockaddr *)&a, sizeof a);
        } else {
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
            bind(fd, (struct sockaddr *)&a, sizeof a);
        }
        if (fds) fds[i] = fd;
    }
}

__attribute__((unused)) static void ready_and_wait(void) {
    struct sockaddr_un notify = {.sun_family = AF_UNIX};
    strncpy(notify.sun_path, getenv("NOTIFY_SOCKET"), sizeof notify.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    sendto(fd, "READY=1", 7, 0, (struct sockaddr *)&notify, sizeof notify);
    pause();
}
