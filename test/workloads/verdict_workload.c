// verdict_workload: threads whose lives the verdict must account for
// (test/integration/account.test.ts).
//
//   verdict_workload spin
//       "spinner" spins in user space (no system calls) from before kdelay
//       attaches until SIGTERM: an OVS PMD thread's shape.
//   verdict_workload exit SPIN_MS
//       "leaver" is blocked in read() on a pipe; "newborn" does not exist
//       yet. On SIGUSR1 the main thread wakes the leaver and creates the
//       newborn; each spins SPIN_MS and exits (inside the window), and the
//       main thread prints "done LEAVER_TID NEWBORN_TID" once both have.
//   verdict_workload churn PER_SECOND
//       from SIGUSR1 on, creates PER_SECOND detached "churn" threads a
//       second, each making a few system calls, spinning ~0.2 ms, sleeping
//       1 ms and exiting; until SIGTERM.
//
// Prints "ready PID" (workload.h) first.
#include "workload.h"
#include <string.h>
#include <unistd.h>

static long long spin_ns;
static int wake[2];
static pid_t leaver_tid, newborn_tid;

static void *spinner(void *arg)
{
	pthread_setname_np(pthread_self(), "spinner");
	for (;;)
		workload_spin_ns(1000000);
	return NULL;
}

static void *leaver(void *arg)
{
	char byte;

	pthread_setname_np(pthread_self(), "leaver");
	leaver_tid = gettid();
	if (read(wake[0], &byte, 1) != 1)
		exit(1);
	workload_spin_ns(spin_ns);
	return NULL;
}

static void *newborn(void *arg)
{
	pthread_setname_np(pthread_self(), "newborn");
	newborn_tid = gettid();
	workload_spin_ns(spin_ns);
	return NULL;
}

static void *churn(void *arg)
{
	struct timespec ms = { 0, 1000000 };

	pthread_setname_np(pthread_self(), "churn");
	getppid();
	workload_spin_ns(200000);
	nanosleep(&ms, NULL);
	getppid();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t, l, n;

	workload_init();
	if (argc >= 2 && !strcmp(argv[1], "spin")) {
		pthread_create(&t, NULL, spinner, NULL);
		printf("ready %d\n", getpid());
		fflush(stdout);
		workload_linger();
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "exit")) {
		spin_ns = atoll(argv[2]) * 1000000LL;
		if (pipe(wake))
			return 1;
		pthread_create(&l, NULL, leaver, NULL);
		workload_ready_and_wait();
		if (write(wake[1], "x", 1) != 1)
			return 1;
		pthread_create(&n, NULL, newborn, NULL);
		pthread_join(l, NULL);
		pthread_join(n, NULL);
		printf("done %d %d\n", leaver_tid, newborn_tid);
		fflush(stdout);
		workload_linger();
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "churn")) {
		long long period_ns = 1000000000LL / atoll(argv[2]);
		long long next = workload_now_ns(CLOCK_MONOTONIC);
		pthread_attr_t detached;
		sigset_t pending;

		pthread_attr_init(&detached);
		pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
		workload_ready_and_wait();
		for (;;) {
			struct timespec until;

			sigpending(&pending);
			if (sigismember(&pending, SIGTERM))
				return 0;
			pthread_create(&t, &detached, churn, NULL);
			next += period_ns;
			until.tv_sec = next / 1000000000LL;
			until.tv_nsec = next % 1000000000LL;
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
		}
	}
	fprintf(stderr, "usage: verdict_workload spin | exit SPIN_MS | churn PER_SECOND\n");
	return 2;
}
