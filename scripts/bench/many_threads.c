// many_threads: a target with THREADS threads that each wake every
// PERIOD_MS (a nanosleep, so every thread has syscall and scheduler rows
// in most samples), for `npm run bench`'s memory figure. Prints
// "ready PID" once all threads run, then lives until killed.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long period_ms;

/* Thread i first sleeps i/THREADS of a period, so the wake-ups spread over it and every window sees some. */
static void *sleeper(void *phase)
{
	long offset_ns = (long)phase;
	struct timespec first = { offset_ns / 1000000000, offset_ns % 1000000000 };
	struct timespec period = { period_ms / 1000, (period_ms % 1000) * 1000000 };

	nanosleep(&first, NULL);
	for (;;)
		nanosleep(&period, NULL);
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 2000;
	pthread_attr_t attr;
	pthread_t thread;

	period_ms = argc > 2 ? atol(argv[2]) : 100;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&thread, &attr, sleeper, (void *)(period_ms * 1000000 / threads * i))) {
			perror("pthread_create");
			return 1;
		}
	}
	printf("ready %d\n", getpid());
	fflush(stdout);
	pause();
	return 0;
}
