/* A tiny helper for the system tests, run inside the booted container.
 *
 *   probe state PORT      prints "tcp4:held udp4:free tcp6:held udp6:free"
 *   probe expect-free PORT exits 0 only if all four can be bound now
 *   probe bindall PORT     binds all four and exits 0, or 1 naming the first that fails
 *   probe compete PORT FILE  tries to bind all four as fast as it can until FILE exists, then
 *                          prints "ATTEMPTS attempts, SUCCESSES bound"
 *   probe resvport N       takes N ports with libtirpc's bindresvport() for tcp and for udp,
 *                          keeping them, and prints each port obtained
 *
 * TCP probes set SO_REUSEADDR, as servers do, so TIME_WAIT leftovers do not count as taken;
 * a reserved socket (bound without SO_REUSEADDR) still makes the bind fail. */
#include <errno.h>
#include <netinet/in.h>
#include <rpc/rpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *names[4] = {"tcp4", "udp4", "tcp6", "udp6"};

/* Returns a bound descriptor, or -1 with errno set. */
static int bind_port(int which, int port) {
    int v6 = which >= 2, tcp = which % 2 == 0, one = 1;
    int fd = socket(v6 ? AF_INET6 : AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
    if (fd < 0) return -1;
    if (tcp) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int result;
    if (v6) {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = in6addr_any};
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        result = bind(fd, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = INADDR_ANY};
        result = bind(fd, (struct sockaddr *)&a, sizeof a);
    }
    if (result != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int main(int argc, char **argv) {
    if (argc != 3 && !(argc == 4 && strcmp(argv[1], "compete") == 0)) {
        fprintf(stderr, "usage: probe state|expect-free|bindall PORT | probe resvport N\n");
        return 2;
    }
    int number = atoi(argv[2]);
    if (strcmp(argv[1], "state") == 0 || strcmp(argv[1], "expect-free") == 0) {
        int all_free = 1;
        for (int i = 0; i < 4; i++) {
            int fd = bind_port(i, number);
            if (fd >= 0) close(fd); else all_free = 0;
            printf("%s%s:%s", i ? " " : "", names[i], fd >= 0 ? "free" : "held");
        }
        printf("\n");
        return strcmp(argv[1], "state") == 0 || all_free ? 0 : 1;
    }
    if (strcmp(argv[1], "bindall") == 0) {
        for (int i = 0; i < 4; i++) {
            if (bind_port(i, number) < 0) {
                fprintf(stderr, "bind %s port %d: %s\n", names[i], number, strerror(errno));
                return 1;
            }
        }
        return 0;
    }
    if (strcmp(argv[1], "compete") == 0 && argc == 4) {
        long attempts = 0, successes = 0;
        struct stat info;
        while (stat(argv[3], &info) != 0) {
            for (int i = 0; i < 4; i++, attempts++) {
                int fd = bind_port(i, number);
                if (fd >= 0) {
                    if (successes++ == 0) fprintf(stderr, "first bound %s port %d\n", names[i], number);
                    close(fd);
                }
            }
        }
        printf("%ld attempts, %ld bound\n", attempts, successes);
        return successes == 0 ? 0 : 1;
    }
    if (strcmp(argv[1], "resvport") == 0) {
        for (int type = 0; type < 2; type++) {
            for (int i = 0; i < number; i++) {
                int fd = socket(AF_INET, type ? SOCK_DGRAM : SOCK_STREAM, 0);
                struct sockaddr_in a = {.sin_family = AF_INET};
                if (fd < 0 || bindresvport(fd, &a) != 0) break;
                socklen_t length = sizeof a;
                getsockname(fd, (struct sockaddr *)&a, &length);
                printf("%s %d\n", type ? "udp" : "tcp", ntohs(a.sin_port));
            }
        }
        return 0;
    }
    fprintf(stderr, "probe: unknown mode %s\n", argv[1]);
    return 2;
}
