/* The physical floor for portrelease: the same request to the daemon from an autobound socket,
 * waiting for the same reply. Usage: floor_release SOCKET NAME */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un self = {.sun_family = AF_UNIX}, daemon = {.sun_family = AF_UNIX};
    bind(fd, (struct sockaddr *)&self, sizeof(sa_family_t));
    strncpy(daemon.sun_path, argv[1], sizeof daemon.sun_path - 1);
    char request[512], reply[65536];
    int length = snprintf(request, sizeof request, ".portreserve/1 release\n%s\n", argv[2]);
    if (sendto(fd, request, length, 0, (struct sockaddr *)&daemon, sizeof daemon) < 0) return 0;
    return recv(fd, reply, sizeof reply, 0) > 0 ? 0 : 1;
}
