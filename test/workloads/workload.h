/*
 * workload.h - the line protocol every test workload speaks on stdout:
 *   "ready <pid>"  threads are set up; waiting for SIGUSR1 to start
 *   "done ..."     the measured work is over; threads stay alive (so their
 *                  names can still be read) until SIGTERM
 * SIGUSR1 and SIGTERM are blocked in every thread and taken with sigwait()
 * by the main thread only.
 */
#ifndef KDELAY_TEST_WORKLOAD_H
#define KDELAY_TEST_WORKLOAD_H

#ifndef _GNU_SOURCE /* g++ defines it */
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static sigset_t workload_signals;
static volatile int workload_go;

/* Call first, before creating threads (they inherit the blocked signals). */
static inline void workload_init(void)
{
	sigemptyset(&workload_signals);
	sigaddset(&workload_signals, SIGUSR1);
	sigaddset(&workload_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &workload_signals, NULL);
}

static inline long long workload_now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts); /* vDSO for CLOCK_MONOTONIC: no syscall */
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Busy-waits (no syscalls) for ns of wall time. */
static inline void workload_spin_ns(long long ns)
{
	long long start = workload_now_ns(CLOCK_MONOTONIC);

	while (workload_now_ns(CLOCK_MONOTONIC) - start < ns)
		;
}

/* Workers call this to wait, without syscalls, until the main thread got SIGUSR1. */
static inline void workload_wait_go(void)
{
	while (!__atomic_load_n(&workload_go, __ATOMIC_ACQUIRE))
		workload_spin_ns(100000);
}

/* Main thread: prints "ready <pid>", waits for SIGUSR1 and releases the workers. Exits on SIGTERM. */
static inline void workload_ready_and_wait(void)
{
	int sig;

	printf("ready %d\n", getpid());
	fflush(stdout);
	sigwait(&workload_signals, &sig);
	if (sig == SIGTERM)
		exit(0);
	__atomic_store_n(&workload_go, 1, __ATOMIC_RELEASE);
}

/* Main thread: waits for SIGTERM. */
static inline void workload_linger(void)
{
	int sig;

	do
		sigwait(&workload_signals, &sig);
	while (sig != SIGTERM);
}

static pthread_barrier_t workload_done_barrier, workload_quit_barrier;

/* Workers: the measured work is over; returns (so the thread can end) after SIGTERM. */
static inline void workload_worker_done(void)
{
	pthread_barrier_wait(&workload_done_barrier);
	pthread_barrier_wait(&workload_quit_barrier);
}

/*
 * The whole life of a workload whose workers wait with workload_wait_go()
 * and end with workload_worker_done(): starts them, prints "ready", lets them
 * go on SIGUSR1, prints "done" when all are done, and returns after SIGTERM.
 */
static inline int workload_run(int workers, void *(*worker)(void *))
{
	pthread_t threads[workers];

	workload_init();
	pthread_barrier_init(&workload_done_barrier, NULL, workers + 1);
	pthread_barrier_init(&workload_quit_barrier, NULL, workers + 1);
	for (int i = 0; i < workers; i++)
		pthread_create(&threads[i], NULL, worker, (void *)(long)(i + 1));
	workload_ready_and_wait();
	pthread_barrier_wait(&workload_done_barrier);
	printf("done\n");
	fflush(stdout);
	workload_linger();
	pthread_barrier_wait(&workload_quit_barrier);
	return 0;
}

#endif
