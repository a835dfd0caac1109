#ifndef WFD_CLINUX_SHIM_H
#define WFD_CLINUX_SHIM_H
/* Linux interfaces Swift's Glibc module does not export. */
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <malloc.h>
#endif
