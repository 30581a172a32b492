/* The kernel's share of a release of everything: binds the ports listed one per line in argv[1]
 * as the daemon does (tcp and udp, IPv4 and IPv6-only), then closes every socket and prints how
 * long the closing took, in milliseconds. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    FILE *ports = fopen(argv[1], "r");
    int port, one = 1, count = 0, capacity = 1024;
    int *fds = malloc(capacity * sizeof *fds);
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
            if (count == capacity) fds = realloc(fds, (capacity *= 2) * sizeof *fds);
            fds[count++] = fd;
        }
    }
    double start = now();
    for (int i = 0; i < count; i++) close(fds[i]);
    printf("%.3f\n", now() - start);
    return 0;
}
