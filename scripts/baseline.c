/* The baseline wfd's W1/W2 benchmarks are held against: per step, posix_spawn of `true` and
 * waiting for it, plus two durable atomic writes (write tmp, fsync, rename, fsync the directory)
 * of a small JSON record: the least any engine that keeps a durable intent and a durable result
 * per step must do.
 *
 *   baseline DIR STEPS      prints the total time in milliseconds
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void durable_write(const char *dir, const char *name, const char *text) {
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0 || write(fd, text, strlen(text)) < 0 || fsync(fd) != 0 || close(fd) != 0) { perror(tmp); exit(1); }
    if (rename(tmp, path) != 0) { perror(path); exit(1); }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) { perror(dir); exit(1); }
    close(dfd);
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: baseline DIR STEPS\n"); return 64; }
    int steps = atoi(argv[2]);
    char record[256];
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0; i < steps; i++) {
        char name[64];
        snprintf(name, sizeof name, "step%d.json", i);
        snprintf(record, sizeof record, "{\"step\": %d, \"state\": \"running\"}\n", i);
        durable_write(argv[1], name, record);
        pid_t pid;
        char *args[] = {"true", NULL};
        if (posix_spawnp(&pid, "true", NULL, NULL, args, environ) != 0) { perror("posix_spawn"); return 1; }
        int status;
        if (waitpid(pid, &status, 0) < 0) { perror("waitpid"); return 1; }
        snprintf(record, sizeof record, "{\"step\": %d, \"state\": \"succeeded\", \"exit\": %d}\n", i,
                 WEXITSTATUS(status));
        durable_write(argv[1], name, record);
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    printf("%.3f\n", (end.tv_sec - start.tv_sec) * 1e3 + (end.tv_nsec - start.tv_nsec) / 1e6);
    return 0;
}
