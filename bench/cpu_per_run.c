/* Runs a command N times (vfork + execvp, output to /dev/null) and prints the
 * CPU time (user + system, from getrusage(RUSAGE_CHILDREN)) and the wall time
 * per run, in microseconds. A tiny C launcher keeps the launcher's own cost
 * (a fork of a big interpreter) out of the figures.
 *
 * usage: cpu_per_run N command [args...]
 * output: one line "cpu_us=<float> wall_us=<float> failures=<n>" */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

static double seconds(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s N command [args...]\n", argv[0]);
    return 2;
  }
  long runs = strtol(argv[1], NULL, 10);
  if (runs < 1) {
    fprintf(stderr, "N must be at least 1\n");
    return 2;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);

  struct rusage before, after;
  struct timespec start, end;
  getrusage(RUSAGE_CHILDREN, &before);
  clock_gettime(CLOCK_MONOTONIC, &start);
  long failures = 0;
  for (long i = 0; i < runs; ++i) {
    pid_t pid;
    if (posix_spawnp(&pid, argv[2], &actions, NULL, argv + 2, environ) != 0) {
      perror("posix_spawnp");
      return 2;
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failures;
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  getrusage(RUSAGE_CHILDREN, &after);
  double cpu = (seconds(after.ru_utime) - seconds(before.ru_utime)) +
               (seconds(after.ru_stime) - seconds(before.ru_stime));
  double wall = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
  printf("cpu_us=%.1f wall_us=%.1f failures=%ld\n", cpu / (double)runs * 1e6,
         wall / (double)runs * 1e6, failures);
  return 0;
}
