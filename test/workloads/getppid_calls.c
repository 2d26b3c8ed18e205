// getppid_calls CALLS: one worker thread ("caller") that, once told to go
// (SIGUSR1), makes exactly CALLS getppid() system calls, and nothing else
// in between. Prints "caller <tid>" (before "ready") so a test knows which
// thread to expect, then speaks the protocol of workload.h.
#include "workload.h"
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static long calls;

static void *caller(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "caller");
	printf("caller %ld\n", (long)syscall(SYS_gettid));
	fflush(stdout);
	workload_wait_go();
	for (long i = 0; i < calls; i++)
		syscall(SYS_getppid);
	workload_worker_done();
	return NULL;
}

int main(int argc, char **argv)
{
	calls = argc > 1 ? atol(argv[1]) : 1;
	return workload_run(1, caller);
}
