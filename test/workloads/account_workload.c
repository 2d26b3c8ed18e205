// account_workload: four threads whose whereabouts are known, for the
// window accounting and the verdict (test/integration/account.test.ts).
//
//   account_workload FILE BUDGET_MS SLEEPS SLEEP_MS PAGES
//
//   "spin-a", "spin-b"  pinned to CPU 0, each spinning (no syscalls) until it
//                       has had BUDGET_MS of CPU: each waits for the other
//   "sleeper"           pinned to CPU 1: SLEEPS clock_nanosleep()s of SLEEP_MS
//   "faulter"           pinned to CPU 1: reads one byte of each of PAGES pages
//                       of FILE, mapped after its pages were dropped from the
//                       page cache, with read-ahead off: a major fault (disk
//                       I/O, asleep outside any syscall) per page
//
// Prints "ready PID" (workload.h), waits for SIGUSR1, and when every thread
// is done prints "done faulter MAJFLT ELAPSED_NS CPU_NS": the faulter's major
// faults, wall time and CPU time over its loop. Threads then block on a
// barrier until SIGTERM.
#include "workload.h"
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static long long budget_ns, sleep_ns;
static int sleeps;
static long pages;
static const char *file;
static pthread_barrier_t go, done, quit;
static long faulter_majflt;
static long long faulter_elapsed_ns, faulter_cpu_ns;

static void pin(int cpu)
{
	cpu_set_t cpus;

	CPU_ZERO(&cpus);
	CPU_SET(cpu, &cpus);
	pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
}

static void start(const char *name, int cpu)
{
	pthread_setname_np(pthread_self(), name);
	pin(cpu);
	pthread_barrier_wait(&go);
}

static void finish(void)
{
	pthread_barrier_wait(&done);
	pthread_barrier_wait(&quit);
}

static void *spinner(void *name)
{
	start(name, 0);
	long long begin = workload_now_ns(CLOCK_THREAD_CPUTIME_ID);
	while (workload_now_ns(CLOCK_THREAD_CPUTIME_ID) - begin < budget_ns)
		;
	finish();
	return NULL;
}

static void *sleeper(void *unused)
{
	struct timespec ts = { .tv_sec = sleep_ns / 1000000000LL, .tv_nsec = sleep_ns % 1000000000LL };

	start("sleeper", 1);
	for (int i = 0; i < sleeps; i++)
		clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
	finish();
	return NULL;
}

static void *faulter(void *unused)
{
	long page = sysconf(_SC_PAGESIZE);
	int fd = open(file, O_RDONLY);
	struct rusage before, after;
	volatile char sink = 0;
	char *map;

	if (fd < 0) {
		perror("open");
		exit(1);
	}
	/* The file was written and synced: its pages are clean and can be dropped. */
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	map = mmap(NULL, pages * page, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	madvise(map, pages * page, MADV_RANDOM); /* no read-ahead, no fault-around: one fault per page */
	start("faulter", 1);
	getrusage(RUSAGE_THREAD, &before);
	long long wall = workload_now_ns(CLOCK_MONOTONIC), cpu = workload_now_ns(CLOCK_THREAD_CPUTIME_ID);
	/* Backwards, so that nothing the kernel guesses about sequential access helps. */
	for (long i = pages - 1; i >= 0; i--)
		sink += map[i * page];
	faulter_elapsed_ns = workload_now_ns(CLOCK_MONOTONIC) - wall;
	faulter_cpu_ns = workload_now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu;
	getrusage(RUSAGE_THREAD, &after);
	faulter_majflt = after.ru_majflt - before.ru_majflt;
	finish();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t threads[4];

	if (argc != 6) {
		fprintf(stderr, "usage: account_workload FILE BUDGET_MS SLEEPS SLEEP_MS PAGES\n");
		return 2;
	}
	file = argv[1];
	budget_ns = atoll(argv[2]) * 1000000LL;
	sleeps = atoi(argv[3]);
	sleep_ns = atoll(argv[4]) * 1000000LL;
	pages = atol(argv[5]);

	workload_init();
	pthread_barrier_init(&go, NULL, 5);
	pthread_barrier_init(&done, NULL, 5);
	pthread_barrier_init(&quit, NULL, 5);
	pthread_create(&threads[0], NULL, spinner, "spin-a");
	pthread_create(&threads[1], NULL, spinner, "spin-b");
	pthread_create(&threads[2], NULL, sleeper, NULL);
	pthread_create(&threads[3], NULL, faulter, NULL);
	workload_ready_and_wait();
	pthread_barrier_wait(&go);
	pthread_barrier_wait(&done);
	printf("done faulter %ld %lld %lld\n", faulter_majflt, faulter_elapsed_ns, faulter_cpu_ns);
	fflush(stdout);
	workload_linger();
	pthread_barrier_wait(&quit);
	for (int i = 0; i < 4; i++)
		pthread_join(threads[i], NULL);
	return 0;
}
