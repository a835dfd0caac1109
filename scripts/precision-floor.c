/* The floor of the schedule-precision benchmark: the same load as wfd's (N processes of
 * `date +%s.%N` started at each whole second), started by a program that does nothing else:
 * it sleeps until the second, then posix_spawns the N processes back to back.
 *
 *   precision-floor JOBS SECONDS     prints, per process, its lateness in milliseconds
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: precision-floor JOBS SECONDS\n"); return 64; }
    int jobs = atoi(argv[1]), seconds = atoi(argv[2]);
    pid_t *pids = calloc(jobs, sizeof *pids);
    int (*pipes)[2] = calloc(jobs, sizeof *pipes);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    for (int round = 0; round < seconds; round++) {
        struct timespec fire = {now.tv_sec + 1 + round, 0};
        clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &fire, NULL);
        for (int i = 0; i < jobs; i++) {
            posix_spawn_file_actions_t actions;
            posix_spawn_file_actions_init(&actions);
            if (pipe(pipes[i]) != 0) { perror("pipe"); return 1; }
            posix_spawn_file_actions_adddup2(&actions, pipes[i][1], 1);
            posix_spawn_file_actions_addclose(&actions, pipes[i][0]);
            char *args[] = {"date", "+%s.%N", NULL};
            if (posix_spawnp(&pids[i], "date", &actions, NULL, args, environ) != 0) { perror("spawn"); return 1; }
            posix_spawn_file_actions_destroy(&actions);
            close(pipes[i][1]);
        }
        for (int i = 0; i < jobs; i++) {
            char text[64] = {0};
            ssize_t got = read(pipes[i][0], text, sizeof text - 1);
            close(pipes[i][0]);
            waitpid(pids[i], NULL, 0);
            if (got > 0) printf("%.3f\n", (strtod(text, NULL) - (double)fire.tv_sec) * 1000);
        }
    }
    return 0;
}
