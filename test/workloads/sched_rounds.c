// sched_rounds MS...: one thread "rounds" that sleeps (blocked on a pipe) until
// told to run, then spins the next MS of the list and goes back to sleep.
//
//   "ready <pid>"        printed at start; the worker is asleep
//   SIGUSR1              starts the next round: the worker prints
//                        "spinning <tid>" once it is on a CPU, spins MS ms of
//                        wall time, then "spun" just before it blocks again
//   SIGTERM              exits (after the last round the worker sleeps until then)
// So a test knows when the thread is on the CPU and when it has left it. The
// worker runs SCHED_FIFO when it may (root): nothing of the ordinary
// scheduling class preempts it, so a round is one stretch on one CPU, from
// its switch-in to the block after "spun".
#include "workload.h"
#include <sched.h>
#include <unistd.h>

static int wake[2];
static long long round_ms[64];
static int rounds;

static void *worker(void *unused)
{
	const struct sched_param fifo = { .sched_priority = 1 };
	char byte;

	pthread_setname_np(pthread_self(), "rounds");
	pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo);
	for (int i = 0; i < rounds && read(wake[0], &byte, 1) == 1; i++) {
		printf("spinning %d\n", gettid());
		fflush(stdout);
		workload_spin_ns(round_ms[i] * 1000000LL);
		printf("spun\n");
		fflush(stdout);
	}
	for (;;)
		pause(); /* asleep until the process exits: its /proc entries stay */
	return unused;
}

int main(int argc, char **argv)
{
	pthread_t thread;
	int sig;

	if (argc < 2 || argc > 65) {
		fprintf(stderr, "usage: %s MS...\n", argv[0]);
		return 2;
	}
	for (rounds = 0; rounds < argc - 1; rounds++)
		round_ms[rounds] = atoll(argv[rounds + 1]);
	workload_init();
	if (pipe(wake))
		return 1;
	pthread_create(&thread, NULL, worker, NULL);
	printf("ready %d\n", getpid());
	fflush(stdout);
	for (;;) {
		sigwait(&workload_signals, &sig);
		if (sig == SIGTERM)
			return 0;
		if (write(wake[1], "", 1) != 1)
			return 1;
	}
}
