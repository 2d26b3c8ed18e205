// map_full_workload: one thread whose system calls in each window are known
// exactly, to count what a full map drops.
//
//   map_full_workload GETPPIDS GETPIDS GETTIDS
//
// Prints "ready <pid>" and waits in pause(). Each SIGUSR1 starts a round:
// the handler returns (one rt_sigreturn), then the thread makes GETPPIDS
// getppid(), GETPIDS getpid() and GETTIDS gettid() calls and one write() of
// "done N" (N: the round), and waits in pause() again. So a round is
// exactly 2 + GETPPIDS + GETPIDS + GETTIDS system calls, in that order;
// pause() enters in one window and returns in the next, so it counts in
// none. SIGTERM ends it (default action).
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	int getppids, getpids, gettids;
	char line[32];

	if (argc != 4) {
		fprintf(stderr, "usage: %s GETPPIDS GETPIDS GETTIDS\n", argv[0]);
		return 2;
	}
	getppids = atoi(argv[1]);
	getpids = atoi(argv[2]);
	gettids = atoi(argv[3]);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1; /* no SA_RESTART: pause() returns */
	sigaction(SIGUSR1, &sa, NULL);
	printf("ready %d\n", getpid());
	fflush(stdout);
	for (int round = 1;; round++) {
		while (!go)
			pause();
		go = 0;
		/* syscall(), not glibc's wrappers, which could cache one day. */
		for (int i = 0; i < getppids; i++)
			syscall(SYS_getppid);
		for (int i = 0; i < getpids; i++)
			syscall(SYS_getpid);
		for (int i = 0; i < gettids; i++)
			syscall(SYS_gettid);
		int len = snprintf(line, sizeof(line), "done %d\n", round);
		if (write(1, line, len) != len)
			abort();
	}
}
