// blocking_workload: a thread that blocks in the kernel in two known places,
// for the -s switch-out stacks (where a slow call waited).
//
//   blocking_workload N
//
// After SIGUSR1 a thread "blocker" alternates N times: nap(), a 20 ms
// nanosleep (the kernel sleeps in do_nanosleep), and wait_pipe(), a read of
// one byte from a pipe that a thread "feeder" writes 20 ms later (the kernel
// sleeps in pipe_read). Then fill_pipe(): one write of three pipe-fulls
// (3 x 64 KiB) into a second pipe, which the feeder drains 60 ms after it is
// full, then 5 ms after that, so the write blocks in pipe_write twice (once
// if the second half streams), the first time longest. The syscalls are made with an inline `syscall` instruction from
// functions built with frame pointers, as events_workload's.
#include "workload.h"
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int rounds;
static int pipe_fds[2], full_fds[2];
static char chunk[3 * 65536];

static inline long raw_syscall3(long nr, long a, long b, long c)
{
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return ret;
}

__attribute__((noinline)) void nap(void)
{
	struct timespec twenty_ms = { 0, 20 * 1000 * 1000 };

	raw_syscall3(SYS_nanosleep, (long)&twenty_ms, 0, 0);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void wait_pipe(void)
{
	char byte;

	raw_syscall3(SYS_read, pipe_fds[0], (long)&byte, 1);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void fill_pipe(void)
{
	raw_syscall3(SYS_write, full_fds[1], (long)chunk, sizeof(chunk));
	__asm__ volatile("" ::: "memory");
}

static void *blocker(void *unused)
{
	pthread_setname_np(pthread_self(), "blocker");
	workload_wait_go();
	for (int i = 0; i < rounds; i++) {
		nap();
		wait_pipe();
	}
	fill_pipe();
	workload_worker_done();
	return unused;
}

static void *feeder(void *unused)
{
	struct timespec twenty_ms = { 0, 20 * 1000 * 1000 };
	struct timespec sixty_ms = { 0, 60 * 1000 * 1000 }, five_ms = { 0, 5 * 1000 * 1000 };

	pthread_setname_np(pthread_self(), "feeder");
	workload_wait_go();
	for (int i = 0; i < rounds; i++) {
		/* The blocker naps 20 ms first: 40 ms after the last byte it waits about 20 ms in read. */
		nanosleep(&twenty_ms, NULL);
		nanosleep(&twenty_ms, NULL);
		if (write(pipe_fds[1], "x", 1) != 1)
			abort();
	}
	/* Once the pipe is full the blocker's fill_pipe() waits: 60 ms, then about 5 ms. */
	for (int queued = 0; queued < 65536;) {
		nanosleep(&five_ms, NULL);
		if (ioctl(full_fds[0], FIONREAD, &queued))
			abort();
	}
	nanosleep(&sixty_ms, NULL);
	for (int i = 0; i < 3; i++) {
		for (long got = 0; got < 65536;) {
			long n = read(full_fds[0], chunk, 65536 - got);
			if (n <= 0)
				abort();
			got += n;
		}
		nanosleep(&five_ms, NULL);
	}
	workload_worker_done();
	return unused;
}

static void *worker(void *which)
{
	return (long)which == 1 ? blocker(NULL) : feeder(NULL);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s N\n", argv[0]);
		return 2;
	}
	rounds = atoi(argv[1]);
	if (pipe(pipe_fds) || pipe(full_fds) || fcntl(full_fds[1], F_SETPIPE_SZ, 65536) != 65536)
		return 1;
	return workload_run(2, worker);
}
