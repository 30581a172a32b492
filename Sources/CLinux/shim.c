/* struct ucred and SCM_CREDENTIALS are declared only under _GNU_SOURCE. */
#define _GNU_SOURCE
#include "CLinux.h"
#include <string.h>

size_t clinux_cmsg_space(size_t length) { return CMSG_SPACE(length); }
size_t clinux_cmsg_len(size_t length) { return CMSG_LEN(length); }
struct cmsghdr *clinux_cmsg_firsthdr(struct msghdr *message) { return CMSG_FIRSTHDR(message); }
struct cmsghdr *clinux_cmsg_nxthdr(struct msghdr *message, struct cmsghdr *header) { return CMSG_NXTHDR(message, header); }
unsigned char *clinux_cmsg_data(struct cmsghdr *header) { return CMSG_DATA(header); }

const int clinux_scm_credentials = SCM_CREDENTIALS;
const size_t clinux_ucred_size = sizeof(struct ucred);

void clinux_ucred_read(const unsigned char *data, pid_t *pid, uid_t *uid, gid_t *gid) {
    struct ucred credentials;
    memcpy(&credentials, data, sizeof credentials);
    *pid = credentials.pid;
    *uid = credentials.uid;
    *gid = credentials.gid;
}
