#ifndef CLINUX_H
#define CLINUX_H
/* Linux interfaces that Glibc's Swift module leaves out (eventfd, signalfd, malloc_trim), or
 * that <sys/socket.h> declares only under _GNU_SOURCE, which Swift's Glibc module is not built with. shim.c is compiled with it,
 * so the layout below is the C library's own, never one derived by hand. */
#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <malloc.h>

/* cmsg(3): the macros, as functions (Swift imports no function-like macro). */
size_t clinux_cmsg_space(size_t length);
size_t clinux_cmsg_len(size_t length);
struct cmsghdr *clinux_cmsg_firsthdr(struct msghdr *message);
struct cmsghdr *clinux_cmsg_nxthdr(struct msghdr *message, struct cmsghdr *header);
unsigned char *clinux_cmsg_data(struct cmsghdr *header);

/* SCM_CREDENTIALS and struct ucred (unix(7)). */
extern const int clinux_scm_credentials;
extern const size_t clinux_ucred_size;
/* Reads the struct ucred at data, which may be unaligned. */
void clinux_ucred_read(const unsigned char *data, pid_t *pid, uid_t *uid, gid_t *gid);

/* SCM_MAX_FD of the kernel (include/net/scm.h), which no user-space header exports: the most
 * descriptors one datagram can pass. */
#define CLINUX_SCM_MAX_FD 253

#endif
