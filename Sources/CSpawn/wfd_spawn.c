#define _GNU_SOURCE
#include "wfd_spawn.h"

#include <errno.h>
#include <fcntl.h>
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
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
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
    /* Under ThreadSanitizer the child is forked (below): it reports a failure through this pipe
     * instead, which its exec closes. -1 otherwise. */
    int report_fd;
};

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WFD_SPAWN_FORK 1
#endif
#endif

/* The child runs on its own stack but in the parent's memory, with the parent's thread-local
 * storage, until execve: it makes only raw system calls (no libc wrapper, so no sanitizer
 * interceptor either, whose per-thread state is the parent's), and switches credentials with
 * them (glibc's wrappers would signal every thread of the parent to follow). Its own memory
 * accesses are not instrumented for the same reason. */
__attribute__((no_sanitize("address", "thread")))
static int child(void *raw) {
    struct child_args *args = raw;
    const wfd_spawn_request *r = args->request;
    int stage = 0;
    long result = 0;

    struct kernel_sigaction fallback;
    fallback.handler = SIG_DFL;
    fallback.flags = 0;
    fallback.restorer = NULL;
    fallback.mask = 0;
    for (int number = 1; number < _NSIG; number++) {
        if (number != SIGKILL && number != SIGSTOP) {
            (void)syscall(SYS_rt_sigaction, number, &fallback, NULL, sizeof fallback.mask);
        }
    }
    if ((result = syscall(SYS_setsid)) < 0) { stage = WFD_SPAWN_SETSID; goto fail; }
    if (r->set_ids) {
        if ((result = syscall(SYS_setgroups, (size_t)r->ngroups, r->groups)) != 0) { stage = WFD_SPAWN_SETGROUPS; goto fail; }
        if ((result = syscall(SYS_setresgid, r->gid, r->gid, r->gid)) != 0) { stage = WFD_SPAWN_SETGID; goto fail; }
        if ((result = syscall(SYS_setresuid, r->uid, r->uid, r->uid)) != 0) { stage = WFD_SPAWN_SETUID; goto fail; }
    }
    if (r->cwd != NULL && (result = syscall(SYS_chdir, r->cwd)) != 0) { stage = WFD_SPAWN_CHDIR; goto fail; }

    int sources[3] = {r->stdin_fd, r->stdout_fd, r->stderr_fd};
    for (int target = 0; target < 3; target++) {  /* out of the way of 0, 1 and 2 first */
        if (sources[target] >= 0 && sources[target] < 3) {
            result = syscall(SYS_fcntl, sources[target], F_DUPFD, 3);
            if (result < 0) { stage = WFD_SPAWN_DUP; goto fail; }
            sources[target] = (int)result;
        }
    }
    for (int target = 0; target < 3; target++) {  /* every source is 3 or above by now */
        if ((result = syscall(SYS_dup3, sources[target], target, 0)) < 0) { stage = WFD_SPAWN_DUP; goto fail; }
    }
    unsigned int report = args->report_fd >= 3 ? (unsigned int)args->report_fd : ~0U;
    if (syscall(SYS_close_range, 3U, report - 1, 0U) != 0 ||
        (report != ~0U && syscall(SYS_close_range, report + 1, ~0U, 0U) != 0)) {  /* before Linux 5.9 */
        for (int fd = 3; fd < 65536; fd++) {
            if ((unsigned int)fd != report) (void)syscall(SYS_close, fd);
        }
    }
    unsigned long none = 0;
    (void)syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
    (void)syscall(SYS_execve, r->path, r->argv, r->envp);
    stage = WFD_SPAWN_EXEC;
fail:
    args->error = errno != 0 ? errno : EINVAL;
    args->stage = stage;
    if (args->report_fd >= 0) {
        int failure[2] = {args->error, stage};
        (void)syscall(SYS_write, args->report_fd, failure, sizeof failure);
    }
    (void)syscall(SYS_exit_group, 127);
    return 127;
}

#ifdef WFD_SPAWN_FORK
/* ThreadSanitizer cannot follow a child that shares the parent's memory (its clone interceptor
 * runs its own code in the child, on the parent's thread state), so its builds fork: slower, and
 * the same for everything the tests look at. */
int wfd_spawn(const wfd_spawn_request *request, pid_t *pid, int *pidfd, int *stage) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        *stage = WFD_SPAWN_CLONE;
        return errno;
    }
    struct child_args args = {.request = request, .error = 0, .stage = 0, .report_fd = report[1]};
    pid_t child_pid = fork();
    if (child_pid == 0) child(&args);
    int fork_error = errno;
    close(report[1]);
    if (child_pid < 0) {
        close(report[0]);
        *stage = WFD_SPAWN_CLONE;
        return fork_error;
    }
    int failure[2] = {0, 0};
    ssize_t got;
    while ((got = read(report[0], failure, sizeof failure)) < 0 && errno == EINTR) {}
    close(report[0]);
    if (got == (ssize_t)sizeof failure) {
        while (waitpid(child_pid, NULL, 0) < 0 && errno == EINTR) {}
        *stage = failure[1];
        return failure[0];
    }
    *pid = child_pid;
    *pidfd = (int)syscall(SYS_pidfd_open, child_pid, 0);
    if (*pidfd >= 0) (void)fcntl(*pidfd, F_SETFD, FD_CLOEXEC);
    return 0;
}
#else
int wfd_spawn(const wfd_spawn_request *request, pid_t *pid, int *pidfd, int *stage) {
    struct child_args args = {.request = request, .error = 0, .stage = 0, .report_fd = -1};
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
#endif

int wfd_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
