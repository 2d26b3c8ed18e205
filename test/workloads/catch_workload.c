// catch_workload: long poll intervals and a long system call with known
// causes, for catch mode (test/integration/catch.test.ts).
//
//   catch_workload starve CPU ROUNDS GAP_MS
//       "poller" (SCHED_FIFO 10 when allowed, pinned to CPU) calls poll()
//       with a zero timeout, spins 1 ms in user space, and so on: short
//       poll intervals. ROUNDS times, after 50 such short intervals, it
//       wakes "hog" (SCHED_FIFO 20, pinned to the same CPU) through a pipe
//       and polls again once hog has spun GAP_MS and blocked again: that
//       interval is GAP_MS long, spent waiting for the CPU hog holds.
//       After the rounds, 50 more short intervals; prints "done POLLER_TID
//       SLEPT" and blocks in poll() (no interval ends) until SIGTERM. SLEPT
//       counts the rounds whose read() of hog's reply slept (a voluntary
//       context switch of the poller in it): 0 unless hog was not where
//       the rounds need it, asleep in read() at SCHED_FIFO 20 on CPU, when
//       "ready" was printed (it is waited for: see wait_until_reading()).
//   catch_workload sleep SLEEP_MS
//       "sleeper" makes 10 nanosleep() calls of 1 ms, one of SLEEP_MS and
//       10 more of 1 ms (the nanosleep system call itself, not glibc's
//       clock_nanosleep), then prints "done SLEEPER_TID".
//   catch_workload pair GAP_MS
//       Two polling threads whose long intervals overlap: "reader" polls,
//       tells "writer" through a pipe, then blocks in read() on another
//       that writer fills GAP_MS later (after a nanosleep), and polls again; "napper" polls, sleeps
//       GAP_MS + 100 ms in nanosleep() and polls again. Each makes 20
//       short intervals (1 ms spin) before and after. Prints "done
//       READER_TID NAPPER_TID".
//
// Prints "ready PID" (workload.h) first; the work starts on SIGUSR1.
#include "workload.h"
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SHORT_INTERVALS 50

static int cpu, rounds;
static long long gap_ns;
static int wake[2], woken[2];
static pid_t worker_tid, napper_tid, hog_tid;
static int slept_reads;
static int fill[2], reading[2];

static void pin_fifo(int priority)
{
	cpu_set_t set;
	struct sched_param fifo = { .sched_priority = priority };

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/*
	 * The policy first: moved onto the CPU the SCHED_FIFO poller spins on
	 * (in workload_wait_go()) while still SCHED_OTHER, a thread waits there
	 * for the CPU time RT throttling leaves the others, seconds on a busy
	 * machine.
	 */
	pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo); /* not root: stays SCHED_OTHER */
	sched_setaffinity(0, sizeof(set), &set);
}

/*
 * The sleep and pair threads, once the work starts (not while they spin
 * waiting for it): SCHED_FIFO 5, on any CPU (not root: stays SCHED_OTHER),
 * so that their short intervals and calls stay short on a busy machine. As SCHED_OTHER, other work once kept one from the CPU for more
 * than the threshold: an interval the workload meant short was long, and
 * caught.
 */
static void fifo_5(void)
{
	struct sched_param fifo = { .sched_priority = 5 };

	pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo);
}

/* Voluntary context switches of the calling thread so far: one more after a call means it slept in the call. */
static long voluntary_switches(void)
{
	struct rusage usage;

	getrusage(RUSAGE_THREAD, &usage);
	return usage.ru_nvcsw;
}

/*
 * Main thread, before "ready": returns once hog sleeps in read(wake), the
 * place every round needs it. Without this wait the poller could begin its
 * first round while hog was still being set up (not yet SCHED_FIFO, or
 * waiting for the CPU the poller spins on): the poller's write() then woke
 * nobody, its read() slept until hog came and spun GAP_MS, and that interval
 * was blocked in read(), not waiting for the CPU (what the catch test once
 * took for kdelay misaccounting it).
 */
static void wait_until_reading(void)
{
	char path[64], line[64];
	struct timespec ms = { 0, 1000000 };

	while (!__atomic_load_n(&hog_tid, __ATOMIC_ACQUIRE))
		nanosleep(&ms, NULL);
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", hog_tid);
	for (int i = 0; i < 30000; i++) {
		FILE *f = fopen(path, "r");
		int in_read = 0;

		if (f) {
			/* "NR args..." while asleep in system call NR, "running" on a CPU. */
			in_read = fgets(line, sizeof(line), f) && atol(line) == SYS_read && line[0] != 'r';
			fclose(f);
		}
		if (in_read)
			return;
		nanosleep(&ms, NULL);
	}
	fprintf(stderr, "catch_workload: hog never reached read() in 30 s\n");
	exit(1);
}

/* poll() itself, whatever glibc's poll() calls (ppoll on newer ones). */
static void poll_now(int timeout_ms)
{
#ifdef SYS_poll
	syscall(SYS_poll, NULL, 0, timeout_ms);
#else
	struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };

	syscall(SYS_ppoll, NULL, 0, timeout_ms < 0 ? NULL : &ts, NULL, 0);
#endif
}

static void short_intervals(void)
{
	for (int i = 0; i < SHORT_INTERVALS; i++) {
		poll_now(0);
		workload_spin_ns(1000000);
	}
}

static void *hog(void *arg)
{
	char byte;

	pthread_setname_np(pthread_self(), "hog");
	pin_fifo(20);
	__atomic_store_n(&hog_tid, gettid(), __ATOMIC_RELEASE);
	while (read(wake[0], &byte, 1) == 1) {
		workload_spin_ns(gap_ns);
		if (write(woken[1], "x", 1) != 1)
			exit(1);
	}
	return NULL;
}

static void *poller(void *arg)
{
	char byte;

	pthread_setname_np(pthread_self(), "poller");
	worker_tid = gettid();
	pin_fifo(10);
	workload_wait_go();
	for (int r = 0; r < rounds; r++) {
		short_intervals();
		poll_now(0);
		/* hog preempts us here and holds the CPU for gap_ns */
		if (write(wake[1], "x", 1) != 1)
			exit(1);
		long before = voluntary_switches();
		if (read(woken[0], &byte, 1) != 1) /* hog's reply is there: never asleep */
			exit(1);
		if (voluntary_switches() != before)
			slept_reads++;
	}
	short_intervals();
	poll_now(0);
	workload_worker_done();
	for (;;)
		poll_now(-1);
	return NULL;
}

static void *sleeper(void *arg)
{
	struct timespec ms = { 0, 1000000 };
	struct timespec gap = { gap_ns / 1000000000LL, gap_ns % 1000000000LL };

	pthread_setname_np(pthread_self(), "sleeper");
	worker_tid = gettid();
	workload_wait_go();
	fifo_5();
	for (int i = 0; i < 10; i++)
		syscall(SYS_nanosleep, &ms, NULL);
	syscall(SYS_nanosleep, &gap, NULL);
	for (int i = 0; i < 10; i++)
		syscall(SYS_nanosleep, &ms, NULL);
	workload_worker_done();
	return NULL;
}

static void few_short_intervals(void)
{
	for (int i = 0; i < 20; i++) {
		poll_now(0);
		workload_spin_ns(1000000);
	}
	poll_now(0);
}

static void sleep_ns(long long ns)
{
	struct timespec ts = { ns / 1000000000LL, ns % 1000000000LL };

	syscall(SYS_nanosleep, &ts, NULL);
}

static void *reader(void *arg)
{
	char byte;

	pthread_setname_np(pthread_self(), "reader");
	worker_tid = gettid();
	workload_wait_go();
	fifo_5();
	few_short_intervals();
	if (write(reading[1], "x", 1) != 1 || read(fill[0], &byte, 1) != 1) /* blocked until writer fills the pipe */
		exit(1);
	few_short_intervals();
	workload_worker_done();
	return NULL;
}

static void *writer(void *arg)
{
	char byte;

	pthread_setname_np(pthread_self(), "writer");
	workload_wait_go();
	fifo_5();
	if (read(reading[0], &byte, 1) != 1) /* the reader is about to block */
		exit(1);
	sleep_ns(gap_ns);
	if (write(fill[1], "x", 1) != 1)
		exit(1);
	workload_worker_done();
	return NULL;
}

static void *napper(void *arg)
{
	pthread_setname_np(pthread_self(), "napper");
	napper_tid = gettid();
	workload_wait_go();
	fifo_5();
	few_short_intervals();
	sleep_ns(gap_ns + 100 * 1000000LL);
	few_short_intervals();
	workload_worker_done();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t threads[3];
	int pair = argc == 3 && !strcmp(argv[1], "pair");

	workload_init();
	pthread_barrier_init(&workload_done_barrier, NULL, pair ? 4 : 2);
	pthread_barrier_init(&workload_quit_barrier, NULL, pair ? 4 : 2);
	if (pair) {
		gap_ns = atoll(argv[2]) * 1000000LL;
		if (pipe(fill) || pipe(reading))
			return 1;
		pthread_create(&threads[0], NULL, reader, NULL);
		pthread_create(&threads[1], NULL, writer, NULL);
		pthread_create(&threads[2], NULL, napper, NULL);
	} else if (argc == 5 && !strcmp(argv[1], "starve")) {
		cpu = atoi(argv[2]);
		rounds = atoi(argv[3]);
		gap_ns = atoll(argv[4]) * 1000000LL;
		if (pipe(wake) || pipe(woken))
			return 1;
		pthread_create(&threads[0], NULL, poller, NULL);
		pthread_create(&threads[1], NULL, hog, NULL);
		wait_until_reading();
	} else if (argc == 3 && !strcmp(argv[1], "sleep")) {
		gap_ns = atoll(argv[2]) * 1000000LL;
		pthread_create(&threads[0], NULL, sleeper, NULL);
	} else {
		fprintf(stderr, "usage: catch_workload starve CPU ROUNDS GAP_MS | sleep SLEEP_MS | pair GAP_MS\n");
		return 2;
	}
	workload_ready_and_wait();
	pthread_barrier_wait(&workload_done_barrier);
	if (pair)
		printf("done %d %d\n", worker_tid, napper_tid);
	else if (hog_tid)
		printf("done %d %d\n", worker_tid, slept_reads);
	else
		printf("done %d\n", worker_tid);
	fflush(stdout);
	workload_linger();
	exit(0);
}
