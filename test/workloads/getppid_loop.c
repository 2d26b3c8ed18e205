// getppid_loop: calls getppid() in a tight loop for SECONDS on CPU 0 and
// prints "calls_per_sec N cpu_ns_per_call C" (C: the process's CPU time per
// call, which other work on a shared machine inflates less). Used by scripts/bench.mjs to measure the cost
// kdelay adds to each system call of its target.
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0, start, elapsed, cpu;
	unsigned long calls = 0;
	cpu_set_t cpus;

	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);
	/* Wait for a go line on stdin so the tracer can attach first. */
	if (argc > 2 && getchar() == EOF)
		return 1;
	cpu = now_cpu();
	start = now();
	do {
		for (int i = 0; i < 1000; i++)
			syscall(SYS_getppid);
		calls += 1000;
		elapsed = now() - start;
	} while (elapsed < seconds);
	cpu = now_cpu() - cpu;
	printf("calls_per_sec %.0f cpu_ns_per_call %.1f\n", calls / elapsed, cpu * 1e9 / calls);
	return 0;
}
