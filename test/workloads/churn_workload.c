// churn_workload: a process that keeps creating short-lived threads, each
// making a known number of system calls.
//
//   churn_workload THREADS GETPPIDS CONCURRENT
//
// Prints "ready <pid>" and waits for SIGUSR1. Then it creates THREADS
// threads, CONCURRENT at a time (joining each batch before the next); each
// makes exactly GETPPIDS getppid() calls and exits. When all have exited it
// prints "done" and waits until SIGTERM.
#include "workload.h"
#include <sys/syscall.h>
#include <unistd.h>

static int getppids;

static void *short_lived(void *arg)
{
	(void)arg;
	for (int i = 0; i < getppids; i++)
		syscall(SYS_getppid); /* not glibc's getppid(), which could be cached one day */
	return NULL;
}

int main(int argc, char **argv)
{
	int threads, concurrent;

	if (argc != 4) {
		fprintf(stderr, "usage: %s THREADS GETPPIDS CONCURRENT\n", argv[0]);
		return 2;
	}
	threads = atoi(argv[1]);
	getppids = atoi(argv[2]);
	concurrent = atoi(argv[3]);
	pthread_t batch[concurrent];

	workload_init();
	workload_ready_and_wait();
	for (int made = 0; made < threads;) {
		int n = threads - made < concurrent ? threads - made : concurrent;

		for (int i = 0; i < n; i++)
			if (pthread_create(&batch[i], NULL, short_lived, NULL))
				abort();
		for (int i = 0; i < n; i++)
			pthread_join(batch[i], NULL);
		made += n;
	}
	printf("done\n");
	fflush(stdout);
	workload_linger();
	return 0;
}
