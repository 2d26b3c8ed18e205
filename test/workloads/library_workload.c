// library_workload: rounds bracketed by calls into a shared library
// (libkdtest.so), for triggers on library functions.
//
//   library_workload ROUNDS GETPPIDS GAP_MS
//
// After SIGUSR1 a thread "worker" runs ROUNDS rounds. Each round calls
// phase_begin(), makes GETPPIDS getppid() calls (through libc's syscall()),
// then one getpid() (libc's wrapper: a known libc function to trigger on),
// calls phase_end(), and sleeps GAP_MS (time for kdelay to report and
// re-arm). See workload.h for the ready/done protocol.
#include "workload.h"
#include <sys/syscall.h>
#include <unistd.h>

int phase_begin(int round);
int phase_end(int round);

static int rounds, getppids, gap_ms;

static void *worker(void *unused)
{
	struct timespec gap = { gap_ms / 1000, (gap_ms % 1000) * 1000000L };

	pthread_setname_np(pthread_self(), "worker");
	workload_wait_go();
	for (int round = 1; round <= rounds; round++) {
		phase_begin(round);
		for (int i = 0; i < getppids; i++)
			syscall(SYS_getppid);
		getpid();
		phase_end(round);
		nanosleep(&gap, NULL);
	}
	workload_worker_done();
	return unused;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s ROUNDS GETPPIDS GAP_MS\n", argv[0]);
		return 2;
	}
	rounds = atoi(argv[1]);
	getppids = atoi(argv[2]);
	gap_ms = atoi(argv[3]);
	return workload_run(1, worker);
}
