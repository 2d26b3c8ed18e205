// sched_workload: threads whose scheduling is known.
//
//   sched_workload contend MS       two threads "spin-1"/"spin-2" pinned to CPU 0,
//                                   each spinning until it has had MS ms of CPU
//   sched_workload slices MS SLICE  one thread "slicer" on CPU 0: SLICE ms of
//                                   spinning, then a 2 ms sleep, until MS ms of CPU
//   sched_workload park N           N threads "parked-i" blocked on a futex
//   sched_workload pingpong SECONDS two threads on CPU 0 passing a byte through
//                                   pipes; prints "round_trips_per_sec N cpu_ns_per_round_trip C"
//   sched_workload exit MS          one thread "leaver" that spins MS ms and exits;
//                                   "done leaver TID" once it is gone (the process lives on)
// See workload.h for the ready/go/done protocol; here workers wait for "go"
// blocked on a barrier, so they do not run before the window opens. "done" lines carry what was
// done (e.g. "done slices 50").
#include "workload.h"
#include <sched.h>
#include <string.h>
#include <unistd.h>

static long long budget_ns, slice_ns;
static double pingpong_seconds;
static int ping[2], pong[2];
static pthread_barrier_t go, done, quit;

static void pin_to_cpu0(void)
{
	cpu_set_t cpus;

	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
}

/* Blocks (asleep, not spinning) until the main thread got SIGUSR1, so nothing runs before the window. */
static void wait_go(void)
{
	pthread_barrier_wait(&go);
}

static void finish(void)
{
	pthread_barrier_wait(&done);
	pthread_barrier_wait(&quit); /* stay alive until SIGTERM */
}

/* Spins until this thread has consumed budget_ns of CPU time. */
static void *spinner(void *name)
{
	pthread_setname_np(pthread_self(), name);
	pin_to_cpu0();
	wait_go();
	long long start = workload_now_ns(CLOCK_THREAD_CPUTIME_ID);
	while (workload_now_ns(CLOCK_THREAD_CPUTIME_ID) - start < budget_ns)
		;
	finish();
	return NULL;
}

static int slices_done;

static void *slicer(void *unused)
{
	const struct timespec two_ms = { 0, 2000000 };

	pthread_setname_np(pthread_self(), "slicer");
	pin_to_cpu0();
	wait_go();
	for (long long spun = 0; spun < budget_ns; spun += slice_ns, slices_done++) {
		workload_spin_ns(slice_ns);
		nanosleep(&two_ms, NULL);
	}
	finish();
	return unused;
}

static void *parked(void *name)
{
	pthread_setname_np(pthread_self(), name);
	wait_go();
	finish();
	return NULL;
}

static pid_t leaver_tid;

/* Names itself, spins budget_ns, and exits while the process goes on. */
static void *leaver(void *unused)
{
	pthread_setname_np(pthread_self(), "leaver");
	workload_wait_go();
	leaver_tid = gettid();
	workload_spin_ns(budget_ns);
	return unused;
}

static long round_trips;
static long long pingpong_cpu_ns; /* the process's CPU time over the loop */

static void *ponger(void *unused)
{
	char byte;

	pthread_setname_np(pthread_self(), "ponger");
	pin_to_cpu0();
	while (read(ping[0], &byte, 1) == 1 && byte)
		if (write(pong[1], &byte, 1) != 1)
			abort();
	return unused;
}

static void *pinger(void *unused)
{
	char byte = 1;

	pthread_setname_np(pthread_self(), "pinger");
	pin_to_cpu0();
	wait_go();
	long long start = workload_now_ns(CLOCK_MONOTONIC), cpu = workload_now_ns(CLOCK_PROCESS_CPUTIME_ID);
	while (workload_now_ns(CLOCK_MONOTONIC) - start < (long long)(pingpong_seconds * 1e9)) {
		if (write(ping[1], &byte, 1) != 1 || read(pong[0], &byte, 1) != 1)
			abort();
		round_trips++;
	}
	pingpong_cpu_ns = workload_now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu;
	byte = 0;
	if (write(ping[1], &byte, 1) != 1)
		abort();
	finish();
	return unused;
}

int main(int argc, char **argv)
{
	static char names[64][16];
	pthread_t threads[64];
	int n;

	if (argc < 3) {
		fprintf(stderr, "usage: %s contend MS | slices MS SLICE_MS | park N | pingpong SECONDS | exit MS\n", argv[0]);
		return 2;
	}
	workload_init();
	if (!strcmp(argv[1], "contend"))
		n = 2;
	else if (!strcmp(argv[1], "slices") && argc == 4)
		n = 1;
	else if (!strcmp(argv[1], "park"))
		n = atoi(argv[2]) < 64 ? atoi(argv[2]) : 64;
	else if (!strcmp(argv[1], "pingpong"))
		n = 1;
	else if (!strcmp(argv[1], "exit"))
		n = 0; /* the leaver is no barrier party: it does not wait to be told to end */
	else {
		fprintf(stderr, "unknown mode %s\n", argv[1]);
		return 2;
	}
	/* Before any worker exists: they wait on these at once. */
	pthread_barrier_init(&go, NULL, n + 1);
	pthread_barrier_init(&done, NULL, n + 1);
	pthread_barrier_init(&quit, NULL, n + 1);

	if (!strcmp(argv[1], "contend")) {
		budget_ns = atoll(argv[2]) * 1000000LL;
		pthread_create(&threads[0], NULL, spinner, "spin-1");
		pthread_create(&threads[1], NULL, spinner, "spin-2");
	} else if (!strcmp(argv[1], "slices")) {
		budget_ns = atoll(argv[2]) * 1000000LL;
		slice_ns = atoll(argv[3]) * 1000000LL;
		pthread_create(&threads[0], NULL, slicer, NULL);
	} else if (!strcmp(argv[1], "park")) {
		for (int i = 0; i < n; i++) {
			snprintf(names[i], sizeof(names[i]), "parked-%d", (i + 1) % 100);
			pthread_create(&threads[i], NULL, parked, names[i]);
		}
	} else if (!strcmp(argv[1], "exit")) {
		budget_ns = atoll(argv[2]) * 1000000LL;
		pthread_create(&threads[0], NULL, leaver, NULL);
	} else {
		pingpong_seconds = atof(argv[2]);
		if (pipe(ping) || pipe(pong))
			return 1;
		pthread_create(&threads[0], NULL, pinger, NULL);
		pthread_t p;
		pthread_create(&p, NULL, ponger, NULL); /* ends by itself; not a barrier party */
	}

	workload_ready_and_wait();
	pthread_barrier_wait(&go);
	pthread_barrier_wait(&done);
	if (!strcmp(argv[1], "exit")) {
		pthread_join(threads[0], NULL);
		printf("done leaver %d\n", leaver_tid);
	} else if (!strcmp(argv[1], "slices"))
		printf("done slices %d\n", slices_done);
	else if (!strcmp(argv[1], "pingpong"))
		printf("done round_trips_per_sec %.0f cpu_ns_per_round_trip %.1f\n", round_trips / pingpong_seconds,
		       round_trips ? (double)pingpong_cpu_ns / round_trips : 0.0);
	else
		printf("done\n");
	fflush(stdout);
	workload_linger();
	pthread_barrier_wait(&quit);
	return 0;
}
