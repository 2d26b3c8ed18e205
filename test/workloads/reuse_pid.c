// reuse_pid: runs a program, and when it has ended, at once runs it again
// under the same PID, so a tool watching the first one sees its PID taken
// by a new process with hardly a gap.
//
//   reuse_pid PROGRAM [ARGS...]
//
// Runs PROGRAM ARGS as its child and reaps it; then writes the child's PID
// minus one to /proc/sys/kernel/ns_last_pid (the next PID its namespace
// hands out follows it: needs a PID namespace of its own, and root there)
// and runs PROGRAM ARGS again, which gets the same PID. Prints nothing
// itself; exits with the second run's status.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t run(char **argv)
{
	pid_t pid = fork();

	if (pid == 0) {
		execv(argv[0], argv);
		perror("execv");
		_exit(127);
	}
	return pid;
}

int main(int argc, char **argv)
{
	pid_t first, second;
	FILE *last;
	int status;

	if (argc < 2) {
		fprintf(stderr, "usage: %s PROGRAM [ARGS...]\n", argv[0]);
		return 2;
	}
	first = run(argv + 1);
	waitpid(first, &status, 0);
	last = fopen("/proc/sys/kernel/ns_last_pid", "w");
	if (!last || fprintf(last, "%d", first - 1) < 0 || fclose(last) != 0) {
		perror("ns_last_pid");
		return 1;
	}
	second = run(argv + 1);
	waitpid(second, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
