/* The physical floor for portreserve's start-up: create and bind the same sockets (tcp and udp,
 * IPv4 and IPv6-only, no SO_REUSEADDR, no listen), tell NOTIFY_SOCKET READY=1, then wait to be
 * killed. Ports come one per line from the file named by argv[1], already numeric. */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    FILE *ports = fopen(argv[1], "r");
    int port, one = 1;
    while (ports && fscanf(ports, "%d", &port) == 1) {
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
        }
    }
    struct sockaddr_un notify = {.sun_family = AF_UNIX};
    strncpy(notify.sun_path, getenv("NOTIFY_SOCKET"), sizeof notify.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    sendto(fd, "READY=1", 7, 0, (struct sockaddr *)&notify, sizeof notify);
    pause();
    return 0;
}
