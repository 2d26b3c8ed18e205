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
#include "workload.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

static int getppids, nanosleeps, writes, polls;
static int devnull;

static void *worker(void *arg)
{
	const struct timespec ten_ms = { 0, 10 * 1000 * 1000 };
	char name[16];

	snprintf(name, sizeof(name), "worker-%ld", (long)arg % 100);
	pthread_setname_np(pthread_self(), name);
	workload_wait_go(); /* spins: no syscalls before the work */

	for (int i = 0; i < getppids; i++)
		syscall(SYS_getppid); /* not glibc's getppid(), which could be cached one day */
	for (int i = 0; i < nanosleeps; i++)
		nanosleep(&ten_ms, NULL);
	for (int i = 0; i < writes; i++)
		if (write(devnull, "x", 1) != 1)
			abort();
	for (int i = 0; i < polls; i++) {
		if (i > 0)
			workload_spin_ns(2 * 1000 * 1000);
		poll(NULL, 0, 1);
	}
	workload_worker_done();
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s THREADS GETPPIDS NANOSLEEPS WRITES POLLS\n", argv[0]);
		return 2;
	}
	getppids = atoi(argv[2]);
	nanosleeps = atoi(argv[3]);
	writes = atoi(argv[4]);
	polls = atoi(argv[5]);
	devnull = open("/dev/null", O_WRONLY);
	return workload_run(atoi(argv[1]), worker);
}
