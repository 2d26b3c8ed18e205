// named_threads: threads with known names and known system call counts, for
// --thread-name.
//
//   named_threads GETPPIDS EXITING
//
// Starts five threads named "worker-0" .. "worker-3" and "other" (all named
// before "ready <pid>" is printed). After SIGUSR1 thread i (0..4, "other"
// is 4) makes exactly (i + 1) * GETPPIDS getppid() calls and nothing else.
// When EXITING is a thread's index (0..4), that thread exits right after its
// calls; the others stay alive (their names readable) until SIGTERM. "done"
// is printed once every thread has made its calls. (-1: none exits.) The
// main thread calls go() between SIGUSR1 and releasing the threads: a
// start trigger (up:go) for a run that prints nothing when its window opens
// (--json).
#include "workload.h"
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define THREADS 5

static int getppids, exiting;
static pthread_barrier_t named, done, quit;

/* Not inlined, and with an empty asm so the call stays: a uprobe target. */
__attribute__((noinline)) void go(void)
{
	__asm__ volatile("" ::: "memory");
}

static void *thread(void *arg)
{
	unsigned index = (unsigned)(long)arg;
	char name[16];

	if (index < THREADS - 1)
		snprintf(name, sizeof(name), "worker-%u", index % 10);
	else
		strcpy(name, "other");
	pthread_setname_np(pthread_self(), name);
	pthread_barrier_wait(&named);
	workload_wait_go();
	for (int i = 0; i < (int)(index + 1) * getppids; i++)
		syscall(SYS_getppid);
	pthread_barrier_wait(&done);
	if ((int)index != exiting)
		pthread_barrier_wait(&quit);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t threads[THREADS];
	int sig;

	if (argc != 3) {
		fprintf(stderr, "usage: %s GETPPIDS EXITING\n", argv[0]);
		return 2;
	}
	getppids = atoi(argv[1]);
	exiting = atoi(argv[2]);
	workload_init();
	pthread_barrier_init(&named, NULL, THREADS + 1);
	pthread_barrier_init(&done, NULL, THREADS + 1);
	pthread_barrier_init(&quit, NULL, THREADS + 1 - (exiting >= 0 && exiting < THREADS));
	for (long i = 0; i < THREADS; i++)
		pthread_create(&threads[i], NULL, thread, (void *)i);
	pthread_barrier_wait(&named);
	printf("ready %d\n", getpid());
	fflush(stdout);
	if (sigwait(&workload_signals, &sig) != 0 || sig == SIGTERM)
		return 0;
	go();
	__atomic_store_n(&workload_go, 1, __ATOMIC_RELEASE);
	pthread_barrier_wait(&done);
	printf("done\n");
	fflush(stdout);
	workload_linger();
	pthread_barrier_wait(&quit);
	return 0;
}
