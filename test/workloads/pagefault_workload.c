// pagefault_workload: a thread "toucher" that, after SIGUSR1, writes one byte
// to each of PAGES fresh anonymous pages: PAGES write faults (huge pages are
// disabled for the mapping so each 4 KiB page faults on its own).
//
//   pagefault_workload PAGES
#include "workload.h"
#include <sys/mman.h>
#include <unistd.h>

static long pages;
static char *area;

static void *toucher(void *unused)
{
	pthread_setname_np(pthread_self(), "toucher");
	workload_wait_go();
	for (long i = 0; i < pages; i++)
		area[i * 4096] = 1;
	workload_worker_done();
	return unused;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PAGES\n", argv[0]);
		return 2;
	}
	pages = atol(argv[1]);
	area = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED || madvise(area, pages * 4096, MADV_NOHUGEPAGE))
		return 1;
	return workload_run(1, toucher);
}
