// recording_workload: known slow and fast system calls from two threads, one
// of them named by the caller, for --write / kdelay report / diff tests.
//
//   recording_workload SLOW FAST NAME SLEEP_MS
//
// After SIGUSR1 thread "caller" calls slow_path() SLOW times (a nanosleep
// of SLEEP_MS ms each) and fast_path() (getppid) FAST times; the thread
// named NAME (cut to 15 bytes by the kernel, as prctl does: a hostile name
// tests the HTML page's escaping) calls getppid 50 times. The caller prints
// "done"; no thread waits for another (their waits would grow with the
// caller's work), and all stay parked until SIGTERM. The calls are made with an inline syscall instruction
// from functions built with frame pointers (libc's wrappers have none),
// so slow_path shows in the user stack.
#include "workload.h"
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int slow, fast, sleep_ms;
static const char *name;

static inline long raw_syscall2(long nr, long a, long b)
{
#if defined(__x86_64__)
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
	return ret;
#else
	return syscall(nr, a, b);
#endif
}

__attribute__((noinline)) void slow_path(void)
{
	struct timespec pause = { sleep_ms / 1000, (sleep_ms % 1000) * 1000000L };

#ifdef SYS_nanosleep
	raw_syscall2(SYS_nanosleep, (long)&pause, 0);
#else
	syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &pause, NULL);
#endif
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void fast_path(void)
{
	raw_syscall2(SYS_getppid, 0, 0);
	__asm__ volatile("" ::: "memory");
}

/* Blocks until the process exits (every signal is blocked: pause() never returns). */
static void park(void)
{
	for (;;)
		pause();
}

static void *worker(void *which)
{
	int caller = (long)which == 1;

	/* prctl cuts a long name to 15 bytes; pthread_setname_np would refuse it. */
	prctl(PR_SET_NAME, caller ? "caller" : name, 0, 0, 0);
	workload_wait_go();
	if (caller) {
		for (int i = 0; i < slow; i++)
			slow_path();
		for (int i = 0; i < fast; i++)
			fast_path();
		printf("done\n");
		fflush(stdout);
	} else {
		for (int i = 0; i < 50; i++)
			fast_path();
	}
	/* No barrier or join: a thread waiting for the caller would wait longer when the caller works longer. */
	park();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t threads[2];

	if (argc != 5) {
		fprintf(stderr, "usage: %s SLOW FAST NAME SLEEP_MS\n", argv[0]);
		return 2;
	}
	slow = atoi(argv[1]);
	fast = atoi(argv[2]);
	name = argv[3];
	sleep_ms = atoi(argv[4]);
	workload_init();
	for (long i = 0; i < 2; i++)
		pthread_create(&threads[i], NULL, worker, (void *)(i + 1));
	workload_ready_and_wait();
	/* Waits for SIGTERM from before the caller is done until after kdelay ended: never inside a window. */
	workload_linger();
	return 0;
}
