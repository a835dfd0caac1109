#ifndef WFD_CLINUX_SHIM_H
#define WFD_CLINUX_SHIM_H
/* Linux interfaces Swift's Glibc module does not export. */
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>

/* libFuzzer's driver, for make fuzz (defined only when linked with -sanitize=fuzzer): SwiftPM
   names an executable's entry point itself, so wfd-fuzz starts libFuzzer from there. */
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
#endif
