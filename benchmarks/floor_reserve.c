/* The physical floor for portreserve's start-up: create and bind the same sockets (tcp and udp,
 * IPv4 and IPv6-only, no SO_REUSEADDR, no listen), tell NOTIFY_SOCKET READY=1, then wait to be
 * killed. Ports come one per line from the file named by argv[1], already numeric. */
#include "floor_bind.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    FILE *ports = fopen(argv[1], "r");
    int port;
    while (ports && fscanf(ports, "%d", &port) == 1) reserve_port(port, NULL);
    ready_and_wait();
    return 0;
}
