// events_workload: slow and fast system calls from known functions, for
// --syscall-events tests.
//
//   events_workload SLOW FAST POLLS
//
// After SIGUSR1 a thread "eventer" calls slow_path() SLOW times (each one
// nanosleep of 5 ms), FAST getppid() calls and POLLS poll(NULL, 0, 0). The
// syscalls are made with an inline `syscall` instruction from functions
// built with frame pointers: libc's wrappers have none, which would hide
// their caller from a frame-pointer stack walk.
#include "workload.h"
#include <sys/syscall.h>
#include <unistd.h>

static int slow, fast, polls;

static inline long raw_syscall2(long nr, long a, long b)
{
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
	return ret;
}

__attribute__((noinline)) void slow_path(void)
{
	struct timespec five_ms = { 0, 5 * 1000 * 1000 };

	raw_syscall2(SYS_nanosleep, (long)&five_ms, 0);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void fast_path(void)
{
	raw_syscall2(SYS_getppid, 0, 0);
	__asm__ volatile("" ::: "memory");
}

static void *eventer(void *unused)
{
	pthread_setname_np(pthread_self(), "eventer");
	workload_wait_go();
	for (int i = 0; i < slow; i++) {
		slow_path();
		for (int j = 0; j < fast / (slow ? slow : 1); j++)
			fast_path();
	}
	for (int i = 0; i < polls; i++)
		raw_syscall2(SYS_poll, 0, 0);
	workload_worker_done();
	return unused;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s SLOW FAST POLLS\n", argv[0]);
		return 2;
	}
	slow = atoi(argv[1]);
	fast = atoi(argv[2]);
	polls = atoi(argv[3]);
	return workload_run(1, eventer);
}
