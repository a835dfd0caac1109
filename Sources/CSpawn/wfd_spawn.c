#define _GNU_SOURCE
#include "wfd_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* The kernel's struct sigaction (glibc's differs, and its sigaction() refuses signals 32 and 33,
 * which it reserves for itself but which a parent may still have ignored). */
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

struct child_args {
    const wfd_spawn_request *request;
    /* Written by the child, read by the parent once it resumes (the memory is shared). */
    volatile int error;
    volatile int stage;
};

/* The child runs on its own stack but in the parent's memory, with the parent's thread-local
 * storage, until execve: it calls only system calls, and switches credentials with the raw
 * system calls (glibc's wrappers would signal every thread of the parent to follow). */
static int child(void *raw) {
    struct child_args *args = raw;
    const wfd_spawn_request *r = args->request;
    int stage = 0;

    struct kernel_sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.handler = SIG_DFL;
    for (int number = 1; number < _NSIG; number++) {
        if (number != SIGKILL && number != SIGSTOP) {
            (void)syscall(SYS_rt_sigaction, number, &fallback, NULL, sizeof fallback.mask);
        }
    }
    if (setsid() < 0) { stage = WFD_SPAWN_SETSID; goto fail; }
    if (r->set_ids) {
        if (syscall(SYS_setgroups, (size_t)r->ngroups, r->groups) != 0) { stage = WFD_SPAWN_SETGROUPS; goto fail; }
        if (syscall(SYS_setresgid, r->gid, r->gid, r->gid) != 0) { stage = WFD_SPAWN_SETGID; goto fail; }
        if (syscall(SYS_setresuid, r->uid, r->uid, r->uid) != 0) { stage = WFD_SPAWN_SETUID; goto fail; }
    }
    if (r->cwd != NULL && chdir(r->cwd) != 0) { stage = WFD_SPAWN_CHDIR; goto fail; }

    int sources[3] = {r->stdin_fd, r->stdout_fd, r->stderr_fd};
    for (int target = 0; target < 3; target++) {  /* out of the way of 0, 1 and 2 first */
        if (sources[target] >= 0 && sources[target] < 3) {
            sources[target] = fcntl(sources[target], F_DUPFD, 3);
            if (sources[target] < 0) { stage = WFD_SPAWN_DUP; goto fail; }
        }
    }
    for (int target = 0; target < 3; target++) {
        if (dup2(sources[target], target) < 0) { stage = WFD_SPAWN_DUP; goto fail; }
    }
    if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
        long limit = sysconf(_SC_OPEN_MAX);
        if (limit < 0 || limit > 65536) limit = 65536;
        for (int fd = 3; fd < limit; fd++) (void)close(fd);
    }
    unsigned long none = 0;
    (void)syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
    execve(r->path, r->argv, r->envp);
    stage = WFD_SPAWN_EXEC;
fail:
    args->error = errno != 0 ? errno : EINVAL;
    args->stage = stage;
    _exit(127);
}

int wfd_spawn(const wfd_spawn_request *request, pid_t *pid, int *pidfd, int *stage) {
    struct child_args args = {.request = request, .error = 0, .stage = 0};
    const size_t stack_size = 64 * 1024;
    void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        *stage = WFD_SPAWN_CLONE;
        return errno;
    }
    /* No signal handler of the parent may run in the child while it shares the parent's memory. */
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    int fd = -1;
    pid_t child_pid = clone(child, (char *)stack + stack_size, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD,
                            &args, &fd);
    int clone_error = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    munmap(stack, stack_size);
    if (child_pid < 0) {
        *stage = WFD_SPAWN_CLONE;
        return clone_error;
    }
    if (args.error != 0) {
        while (waitpid(child_pid, NULL, 0) < 0 && errno == EINTR) {}
        if (fd >= 0) close(fd);
        *stage = args.stage;
        return args.error;
    }
    *pid = child_pid;
    *pidfd = fd;
    return 0;
}

int wfd_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
