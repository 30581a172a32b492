/* The kernel's share of a release of everything: binds the ports listed one per line in argv[1]
 * as the daemon does (tcp and udp, IPv4 and IPv6-only), then closes every socket and prints how
 * long the closing took, in milliseconds. */
#include "floor_bind.h"
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
    int port, count = 0, capacity = 1024;
    int *fds = malloc(capacity * sizeof *fds);
    while (ports && fscanf(ports, "%d", &port) == 1) {
        if (count + 4 > capacity) fds = realloc(fds, (capacity *= 2) * sizeof *fds);
        reserve_port(port, fds + count);
        count += 4;
    }
    double start = now();
    for (int i = 0; i < count; i++) close(fds[i]);
    printf("%.3f\n", now() - start);
    return 0;
}
