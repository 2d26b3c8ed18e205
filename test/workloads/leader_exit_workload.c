// leader_exit_workload: a process whose main thread has called
// pthread_exit() (so /proc/PID/stat shows it a zombie) while its other
// threads live on and work.
//
//   leader_exit_workload THREADS GETPPIDS
//
// The main thread starts THREADS threads "worker-N", prints "ready <pid>"
// and calls pthread_exit(). worker-1 takes the signals (sigwait) in its
// place: on SIGUSR1 every worker makes GETPPIDS getppid() calls, then
// worker-1 prints "done"; on SIGTERM it ends the process (exit(0)).
#include "workload.h"
#include <sys/syscall.h>
#include <unistd.h>

static int threads, getppids;
static pthread_barrier_t done_barrier;

static void *worker(void *arg)
{
	long n = (long)arg;
	char name[16];
	int sig;

	snprintf(name, sizeof(name), "worker-%ld", n);
	pthread_setname_np(pthread_self(), name);
	if (n == 1) {
		do
			sigwait(&workload_signals, &sig);
		while (sig != SIGUSR1 && sig != SIGTERM);
		if (sig == SIGTERM)
			exit(0);
		__atomic_store_n(&workload_go, 1, __ATOMIC_RELEASE);
	} else {
		workload_wait_go();
	}
	for (int i = 0; i < getppids; i++)
		syscall(SYS_getppid);
	pthread_barrier_wait(&done_barrier);
	if (n == 1) {
		printf("done\n");
		fflush(stdout);
		workload_linger();
		exit(0);
	}
	for (;;)
		pause(); /* until worker-1 ends the process */
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s THREADS GETPPIDS\n", argv[0]);
		return 2;
	}
	threads = atoi(argv[1]);
	getppids = atoi(argv[2]);
	workload_init();
	pthread_barrier_init(&done_barrier, NULL, threads);
	for (long i = 1; i <= threads; i++) {
		pthread_t thread;

		pthread_create(&thread, NULL, worker, (void *)i);
	}
	printf("ready %d\n", getpid());
	fflush(stdout);
	pthread_exit(NULL);
}
