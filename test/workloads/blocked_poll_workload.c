// blocked_poll_workload: a thread already inside poll() when the window
// opens, as an idle ovs-vswitchd thread is.
//
//   blocked_poll_workload POLLS
//
// Starts a worker "poller" that enters poll() on an empty pipe, and prints
// "ready <pid>" once /proc shows the worker inside that poll(). On SIGUSR1
// the main thread writes a byte to the pipe: the poll() returns, and the
// worker makes POLLS poll(NULL, 0, 1) calls, each after 2 ms of busy work.
// So inside the window there are exactly POLLS poll-to-poll intervals of
// >= 2 ms (the first from the blocked poll()'s return), and POLLS poll()
// calls that entered there. Then "done", and it waits until SIGTERM.
#include "workload.h"
#include <poll.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int polls;
static int pipe_fds[2];
static int poller_tid;

static void *poller(void *arg)
{
	struct pollfd readable = { .fd = pipe_fds[0], .events = POLLIN };

	(void)arg;
	pthread_setname_np(pthread_self(), "poller");
	__atomic_store_n(&poller_tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
	poll(&readable, 1, -1); /* blocked here when the window opens */
	for (int i = 0; i < polls; i++) {
		workload_spin_ns(2 * 1000 * 1000);
		poll(NULL, 0, 1);
	}
	workload_worker_done();
	return NULL;
}

/* Whether thread tid is inside poll() (glibc's poll() is ppoll() where there is no poll). */
static int inside_poll(int tid)
{
#ifdef SYS_poll
	const long nr = SYS_poll;
#else
	const long nr = SYS_ppoll;
#endif
	char path[64], line[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	return strtol(line, NULL, 10) == nr && line[0] != 'r'; /* "running": not in a syscall */
}

int main(int argc, char **argv)
{
	const struct timespec one_ms = { 0, 1000 * 1000 };
	pthread_t thread;
	int tid;

	if (argc != 2) {
		fprintf(stderr, "usage: %s POLLS\n", argv[0]);
		return 2;
	}
	polls = atoi(argv[1]);
	if (pipe(pipe_fds))
		return 1;
	workload_init();
	pthread_barrier_init(&workload_done_barrier, NULL, 2);
	pthread_barrier_init(&workload_quit_barrier, NULL, 2);
	pthread_create(&thread, NULL, poller, NULL);
	while (!(tid = __atomic_load_n(&poller_tid, __ATOMIC_ACQUIRE)) || !inside_poll(tid))
		nanosleep(&one_ms, NULL);
	workload_ready_and_wait();
	if (write(pipe_fds[1], "x", 1) != 1)
		abort();
	pthread_barrier_wait(&workload_done_barrier);
	printf("done\n");
	fflush(stdout);
	workload_linger();
	pthread_barrier_wait(&workload_quit_barrier);
	pthread_join(thread, NULL);
	return 0;
}
