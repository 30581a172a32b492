/* The physical floor for start-up from the same configuration the daemon reads: one file per
 * service in the directory argv[1], each holding a port number or a service name that
 * getservbyname(3) resolves. Binds the same sockets as floor_reserve.c (tcp and udp, IPv4 and
 * IPv6-only), tells NOTIFY_SOCKET READY=1, then waits to be killed. No checks beyond that. */
#include <dirent.h>
#include <fcntl.h>
#include <netdb.h>
#include "floor_bind.h"
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    DIR *directory = opendir(argv[1]);
    struct dirent *entry;
    char text[4096];
    while (directory && (entry = readdir(directory))) {
        if (strchr(entry->d_name, '.') || strchr(entry->d_name, '~')) continue;
        int fd = openat(dirfd(directory), entry->d_name, O_RDONLY | O_CLOEXEC);
        ssize_t length = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
        if (fd >= 0) close(fd);
        if (length <= 0) continue;
        text[length] = 0;
        text[strcspn(text, " \t\n/#")] = 0;
        int port = atoi(text);
        if (port == 0) {
            struct servent *service = getservbyname(text, "tcp");
            port = service ? ntohs(service->s_port) : 0;
        }
        if (port > 0) reserve_port(port, NULL);
    }
    ready_and_wait();
    return 0;
}
