// exiting_thread_workload: a thread that exits just after a stop trigger
// closed the window, while kdelay reports it.
//
//   exiting_thread_workload GETPPIDS
//
// Prints "ready <pid>" and waits for SIGUSR1. Then it starts a thread that
// makes exactly GETPPIDS getppid() calls, calls window_end() (the test's
// --stop-trigger up:window_end) and exits at once. The main thread joins it,
// prints "done <tid>" (the thread's id) and waits until SIGTERM.
#include "workload.h"
#include <sys/syscall.h>
#include <unistd.h>

static int getppids;
static int leaver_tid;

/* Not inlined, and with an empty asm so the call stays: the uprobe's target. */
__attribute__((noinline)) void window_end(void)
{
	__asm__ volatile("" ::: "memory");
}

static void *leaver(void *arg)
{
	(void)arg;
	leaver_tid = (int)syscall(SYS_gettid);
	for (int i = 0; i < getppids; i++)
		syscall(SYS_getppid); /* not glibc's getppid(), which could be cached one day */
	window_end();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t thread;

	if (argc != 2) {
		fprintf(stderr, "usage: %s GETPPIDS\n", argv[0]);
		return 2;
	}
	getppids = atoi(argv[1]);
	workload_init();
	workload_ready_and_wait();
	pthread_create(&thread, NULL, leaver, NULL);
	pthread_join(thread, NULL);
	printf("done %d\n", leaver_tid);
	fflush(stdout);
	workload_linger();
	return 0;
}
