/* The physical floor for start-up from the same configuration the daemon reads: one file per
 * service in the directory argv[1], each holding a port number or a service name that
 * getservbyname(3) resolves. Binds the same sockets as floor_reserve.c (tcp and udp, IPv4 and
 * IPv6-only), tells NOTIFY_SOCKET READY=1, then waits to be killed. No checks beyond that. */
#include <dirent.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void reserve(int port) {
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
    }
}

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
        if (port > 0) reserve(port);
    }
    struct sockaddr_un notify = {.sun_family = AF_UNIX};
    strncpy(notify.sun_path, getenv("NOTIFY_SOCKET"), sizeof notify.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    sendto(fd, "READY=1", 7, 0, (struct sockaddr *)&notify, sizeof notify);
    pause();
    return 0;
}
