// irq_workload: threads on the CPU while interrupts arrive.
//
//   irq_workload MILLISECONDS IO_FILE
//
// Starts one "spin-N" thread pinned to each CPU N the process may use, and
// one "disk-io" thread, which fills IO_FILE (1 MiB) and syncs it. When all are
// set up it prints "ready <pid>" and waits for SIGUSR1, every thread blocked
// (so none of them is on a CPU when an interrupt arrives). Then, for
// MILLISECONDS:
//   - each spin-N thread busy-loops on its CPU without making a syscall
//     (clock_gettime is a vDSO call), so it is the current task whenever an
//     interrupt or softirq arrives there, e.g. every timer tick;
//   - disk-io writes 4 KiB blocks to IO_FILE with O_DIRECT and fsync()s
//     after each one, so the disk's completion interrupt fires (on whatever
//     CPU it is routed to, where a spin-N thread is running) while disk-io
//     itself sleeps.
// Then it prints "done spin=<threads> io=<writes>" and waits (threads
// alive, so their names can still be read) until SIGTERM, and removes
// IO_FILE. Before SIGUSR1 a SIGTERM ends it at once.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 4096
#define BLOCKS 256 /* the writes cycle over a 1 MiB file */

static long run_ns;
static const char *io_file;
static long io_writes;
static pthread_barrier_t ready_barrier, go_barrier, done_barrier, quit_barrier;

static long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void *spin(void *arg)
{
	long cpu = (long)arg;
	cpu_set_t one;
	char name[16];
	long end;

	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (pthread_setaffinity_np(pthread_self(), sizeof(one), &one))
		abort();
	snprintf(name, sizeof(name), "spin-%ld", cpu);
	pthread_setname_np(pthread_self(), name);

	pthread_barrier_wait(&ready_barrier);
	pthread_barrier_wait(&go_barrier);
	end = now_ns() + run_ns;
	while (now_ns() < end)
		;
	pthread_barrier_wait(&done_barrier);
	pthread_barrier_wait(&quit_barrier);
	return NULL;
}

static void *disk_io(void *arg)
{
	void *buf;
	long end;
	int fd;

	pthread_setname_np(pthread_self(), "disk-io");
	fd = open(io_file, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0600);
	if (fd < 0 || posix_memalign(&buf, BLOCK, BLOCK)) {
		perror(io_file);
		exit(1);
	}
	memset(buf, 'x', BLOCK);
	/* Allocate the blocks up front: the timed writes overwrite them. */
	for (int i = 0; i < BLOCKS; i++)
		if (pwrite(fd, buf, BLOCK, (off_t)i * BLOCK) != BLOCK)
			abort();
	if (fsync(fd))
		abort();

	pthread_barrier_wait(&ready_barrier);
	pthread_barrier_wait(&go_barrier);
	end = now_ns() + run_ns;
	for (long i = 0; now_ns() < end; i++) {
		if (pwrite(fd, buf, BLOCK, (i % BLOCKS) * BLOCK) != BLOCK || fsync(fd))
			abort();
		io_writes++;
	}
	close(fd);
	pthread_barrier_wait(&done_barrier);
	pthread_barrier_wait(&quit_barrier);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t threads[CPU_SETSIZE + 1];
	int spinners = 0, n = 0, sig;
	sigset_t wait_set;
	cpu_set_t cpus;

	if (argc != 3) {
		fprintf(stderr, "usage: %s MILLISECONDS IO_FILE\n", argv[0]);
		return 2;
	}
	run_ns = atol(argv[1]) * 1000000L;
	io_file = argv[2];
	if (sched_getaffinity(0, sizeof(cpus), &cpus))
		abort();
	spinners = CPU_COUNT(&cpus);

	sigemptyset(&wait_set);
	sigaddset(&wait_set, SIGUSR1);
	sigaddset(&wait_set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &wait_set, NULL); /* inherited by the threads */
	pthread_barrier_init(&ready_barrier, NULL, spinners + 2);
	pthread_barrier_init(&go_barrier, NULL, spinners + 2);
	pthread_barrier_init(&done_barrier, NULL, spinners + 2);
	pthread_barrier_init(&quit_barrier, NULL, spinners + 2);

	for (long cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &cpus) && pthread_create(&threads[n++], NULL, spin, (void *)cpu))
			abort();
	if (pthread_create(&threads[n++], NULL, disk_io, NULL))
		abort();

	pthread_barrier_wait(&ready_barrier);
	printf("ready %d\n", getpid());
	fflush(stdout);
	if (sigwait(&wait_set, &sig) || sig == SIGTERM) {
		unlink(io_file);
		_exit(0);
	}
	pthread_barrier_wait(&go_barrier);
	pthread_barrier_wait(&done_barrier);
	printf("done spin=%d io=%ld\n", spinners, io_writes);
	fflush(stdout);
	while (!sigwait(&wait_set, &sig) && sig != SIGTERM)
		;
	unlink(io_file);
	_exit(0);
}
