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
/* CRC-32C with the SSE 4.2 instruction, 8 bytes at a time: wfd checks the checksum of every
   record it reads (70 MB of them at the start-up of 10,000 jobs). `crc` is the running value
   (start with 0xFFFFFFFF, invert at the end). wfd_crc32c_hardware says whether the CPU has it. */
#if defined(__x86_64__)
#include <cpuid.h>
static inline int wfd_crc32c_hardware(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    return (ecx & bit_SSE4_2) != 0;
}
__attribute__((target("sse4.2")))
static inline uint32_t wfd_crc32c(uint32_t crc, const unsigned char *bytes, size_t count) {
    uint64_t wide = crc;
    while (count >= 8) {
        uint64_t word;
        __builtin_memcpy(&word, bytes, 8);
        wide = __builtin_ia32_crc32di(wide, word);
        bytes += 8;
        count -= 8;
    }
    crc = (uint32_t)wide;
    while (count > 0) {
        crc = __builtin_ia32_crc32qi(crc, *bytes);
        bytes += 1;
        count -= 1;
    }
    return crc;
}
#else
static inline int wfd_crc32c_hardware(void) { return 0; }
static inline uint32_t wfd_crc32c(uint32_t crc, const unsigned char *bytes, size_t count) { return crc; }
#endif
#endif
