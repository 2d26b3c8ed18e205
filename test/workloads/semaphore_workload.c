// semaphore_workload: rounds bracketed by USDT probes guarded by semaphores,
// as a dtrace-generated header (or Python's function__entry) guards them:
// the probe point runs only while a tracer has raised its semaphore.
//
//   semaphore_workload ROUNDS GETPPIDS GAP_MS
//
// After SIGUSR1 a thread "worker" runs ROUNDS rounds. Each round fires USDT
// kdelay_sem:start if KDELAY_SEM_START_ENABLED(), makes GETPPIDS getppid()
// calls, fires kdelay_sem:stop if KDELAY_SEM_STOP_ENABLED(), then sleeps
// GAP_MS. A thread "watcher" prints "semaphores START STOP" whenever either
// value changes (and once at start), so a test sees them raised while kdelay
// is attached and back to 0 after it detached.
// See workload.h for the ready/done protocol.
#include "workload.h"
#include <sys/syscall.h>
#include <unistd.h>

// What `dtrace -h` generates: one unsigned short per probe in .probes, named
// PROVIDER_PROBE_semaphore, whose address <sys/sdt.h> writes into the note.
#define _SDT_HAS_SEMAPHORES 1
__extension__ unsigned short kdelay_sem_start_semaphore __attribute__((unused)) __attribute__((section(".probes")));
__extension__ unsigned short kdelay_sem_stop_semaphore __attribute__((unused)) __attribute__((section(".probes")));
#include <sys/sdt.h>

#define KDELAY_SEM_START_ENABLED() __builtin_expect(*(volatile unsigned short *)&kdelay_sem_start_semaphore, 0)
#define KDELAY_SEM_STOP_ENABLED() __builtin_expect(*(volatile unsigned short *)&kdelay_sem_stop_semaphore, 0)

static int rounds, getppids, gap_ms;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void *worker(void *unused)
{
	pthread_setname_np(pthread_self(), "worker");
	workload_wait_go();
	for (int round = 1; round <= rounds; round++) {
		if (KDELAY_SEM_START_ENABLED())
			DTRACE_PROBE(kdelay_sem, start);
		for (int i = 0; i < getppids; i++)
			syscall(SYS_getppid);
		if (KDELAY_SEM_STOP_ENABLED())
			DTRACE_PROBE(kdelay_sem, stop);
		sleep_ms(gap_ms);
	}
	workload_worker_done();
	return unused;
}

static void *watcher(void *unused)
{
	int start = -1, stop = -1;

	pthread_setname_np(pthread_self(), "watcher");
	for (;;) {
		int now_start = *(volatile unsigned short *)&kdelay_sem_start_semaphore;
		int now_stop = *(volatile unsigned short *)&kdelay_sem_stop_semaphore;

		if (now_start != start || now_stop != stop) {
			start = now_start;
			stop = now_stop;
			printf("semaphores %d %d\n", start, stop);
			fflush(stdout);
		}
		sleep_ms(5);
	}
	return unused;
}

int main(int argc, char **argv)
{
	pthread_t watcher_thread;

	if (argc != 4) {
		fprintf(stderr, "usage: %s ROUNDS GETPPIDS GAP_MS\n", argv[0]);
		return 2;
	}
	rounds = atoi(argv[1]);
	getppids = atoi(argv[2]);
	gap_ms = atoi(argv[3]);
	workload_init();
	pthread_create(&watcher_thread, NULL, watcher, NULL);
	return workload_run(1, worker);
}
