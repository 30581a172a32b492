#ifndef CLINUX_SHIM_H
#define CLINUX_SHIM_H
/* Linux descriptors that Glibc's Swift module leaves out. */
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#endif
