// syscall_workload: threads whose system calls are known exactly.
//
//   syscall_workload THREADS GETPPIDS NANOSLEEPS WRITES POLLS
//
// Starts THREADS workers named "worker-N", prints "ready <pid>" and waits for
// SIGUSR1. Each worker then makes exactly GETPPIDS getppid() calls,
// NANOSLEEPS nanosleep(10 ms) calls, WRITES write()s to /dev/null and POLLS
// poll(NULL, 0, 1) calls with 2 ms of busy work between consecutive polls
// (so POLLS-1 poll-to-poll gaps of >= 2 ms each). When all are done it
// prints "done" and waits (threads alive, so their names can still be read)
// until SIGTERM. Before SIGUSR1 a SIGTERM ends it at once.
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int getppids, nanosleeps, writes, polls;
static int devnull;
static pthread_barrier_t done_barrier, quit_barrier;
static sigset_t wait_set;
static volatile int go;

static void busy_ns(long ns)
{
	struct timespec start, now;

	/* clock_gettime is a vDSO call on x86-64 and arm64: no syscall. */
	clock_gettime(CLOCK_MONOTONIC, &start);
	do
		clock_gettime(CLOCK_MONOTONIC, &now);
	while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) < ns);
}

static void *worker(void *arg)
{
	const struct timespec ten_ms = { 0, 10 * 1000 * 1000 };
	char name[16];

	snprintf(name, sizeof(name), "worker-%ld", (long)arg);
	pthread_setname_np(pthread_self(), name);

	/* Spin (no syscalls) until the main thread saw SIGUSR1. */
	while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
		busy_ns(100000);

	for (int i = 0; i < getppids; i++)
		syscall(SYS_getppid); /* not glibc's getppid(), which could be cached one day */
	for (int i = 0; i < nanosleeps; i++)
		nanosleep(&ten_ms, NULL);
	for (int i = 0; i < writes; i++)
		if (write(devnull, "x", 1) != 1)
			abort();
	for (int i = 0; i < polls; i++) {
		if (i > 0)
			busy_ns(2 * 1000 * 1000);
		poll(NULL, 0, 1);
	}
	pthread_barrier_wait(&done_barrier);
	/* Stay alive so the report can still read this thread's name. */
	pthread_barrier_wait(&quit_barrier);
	return NULL;
}

int main(int argc, char **argv)
{
	int threads, sig;

	if (argc != 6) {
		fprintf(stderr, "usage: %s THREADS GETPPIDS NANOSLEEPS WRITES POLLS\n", argv[0]);
		return 2;
	}
	threads = atoi(argv[1]);
	getppids = atoi(argv[2]);
	nanosleeps = atoi(argv[3]);
	writes = atoi(argv[4]);
	polls = atoi(argv[5]);
	devnull = open("/dev/null", O_WRONLY);

	sigemptyset(&wait_set);
	sigaddset(&wait_set, SIGUSR1);
	sigaddset(&wait_set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &wait_set, NULL); /* inherited by the workers */
	pthread_barrier_init(&done_barrier, NULL, threads + 1);
	pthread_barrier_init(&quit_barrier, NULL, threads + 1);

	pthread_t tids[threads];
	for (long i = 0; i < threads; i++)
		pthread_create(&tids[i], NULL, worker, (void *)(i + 1));

	printf("ready %d\n", getpid());
	fflush(stdout);
	sigwait(&wait_set, &sig);
	if (sig == SIGTERM)
		return 0;
	__atomic_store_n(&go, 1, __ATOMIC_RELEASE);

	pthread_barrier_wait(&done_barrier);
	printf("done\n");
	fflush(stdout);
	do
		sigwait(&wait_set, &sig);
	while (sig != SIGTERM);
	pthread_barrier_wait(&quit_barrier);
	return 0;
}
