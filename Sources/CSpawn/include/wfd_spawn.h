#ifndef WFD_SPAWN_H
#define WFD_SPAWN_H

#include <sys/types.h>

/* What a step's process is started with. Every descriptor is the parent's; the child gets them as
 * 0, 1 and 2 and nothing else. */
typedef struct {
    const char *path;           /* the program, an absolute path */
    char *const *argv;          /* NULL-terminated */
    char *const *envp;          /* NULL-terminated: the child's whole environment */
    const char *cwd;            /* NULL: the parent's */
    int stdin_fd, stdout_fd, stderr_fd;
    int set_ids;                /* non-zero: switch to uid/gid/groups before chdir and exec */
    uid_t uid;
    gid_t gid;
    int ngroups;
    const gid_t *groups;
} wfd_spawn_request;

/* Where a failed spawn failed, so that the error can say what to do. */
enum {
    WFD_SPAWN_CLONE = 1,
    WFD_SPAWN_SETSID,
    WFD_SPAWN_SETGROUPS,
    WFD_SPAWN_SETGID,
    WFD_SPAWN_SETUID,
    WFD_SPAWN_CHDIR,
    WFD_SPAWN_DUP,
    WFD_SPAWN_EXEC,
};

/* Starts `request` as a new process in a session (and process group) of its own, with every
 * signal at its default disposition and none blocked. Like glibc's posix_spawn, the child shares
 * the parent's memory until it execs (clone with CLONE_VM|CLONE_VFORK): no page tables are
 * copied, and only the calling thread waits, for the child's exec.
 *
 * Returns 0 and sets *pid and *pidfd (close-on-exec), or returns the errno of the step that
 * failed and sets *stage to it; the failed child has been reaped. */
int wfd_spawn(const wfd_spawn_request *request, pid_t *pid, int *pidfd, int *stage);

/* pipe2(fds, O_CLOEXEC), which Swift's Glibc module does not export. */
int wfd_pipe_cloexec(int fds[2]);

#endif
