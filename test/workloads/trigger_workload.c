// trigger_workload: rounds bracketed by USDT probes and a function call, for
// --start-trigger/--stop-trigger tests.
//
//   trigger_workload ROUNDS GETPPIDS GAP_MS LONG_EVERY LONG_MS
//
// After SIGUSR1 a thread "worker" runs ROUNDS rounds. Each round fires USDT
// kdelay_test:start, calls measured_work() (GETPPIDS getppid() calls, plus a
// LONG_MS sleep in every LONG_EVERY-th round when LONG_EVERY > 0), fires
// kdelay_test:stop, then sleeps GAP_MS (time for kdelay to report and re-arm).
// Every round also fires kdelay_test:tick inside the window, with the round
// number as argument, and then makes one getcpu() system call (a marker few
// programs use, for tracepoint triggers) before kdelay_test:stop.
// See workload.h for the ready/done protocol.
#include "workload.h"
#include <sys/sdt.h>
#include <sys/syscall.h>
#include <unistd.h>

static int rounds, getppids, gap_ms, long_every, long_ms;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Not inlined, and with an empty asm so calls are not merged: uprobe/uretprobe targets. */
__attribute__((noinline)) void measured_work(int round)
{
	for (int i = 0; i < getppids; i++)
		syscall(SYS_getppid);
	if (long_every > 0 && round % long_every == 0)
		sleep_ms(long_ms);
	__asm__ volatile("" ::: "memory");
}

static void *worker(void *unused)
{
	pthread_setname_np(pthread_self(), "worker");
	workload_wait_go();
	for (int round = 1; round <= rounds; round++) {
		DTRACE_PROBE(kdelay_test, start);
		measured_work(round);
		DTRACE_PROBE1(kdelay_test, tick, round);
		syscall(SYS_getcpu, NULL, NULL, NULL);
		DTRACE_PROBE(kdelay_test, stop);
		sleep_ms(gap_ms);
	}
	workload_worker_done();
	return unused;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s ROUNDS GETPPIDS GAP_MS LONG_EVERY LONG_MS\n", argv[0]);
		return 2;
	}
	rounds = atoi(argv[1]);
	getppids = atoi(argv[2]);
	gap_ms = atoi(argv[3]);
	long_every = atoi(argv[4]);
	long_ms = atoi(argv[5]);
	return workload_run(1, worker);
}
