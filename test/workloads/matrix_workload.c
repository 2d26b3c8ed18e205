// matrix_workload: one thread whose every probe-visible event is known, for
// the kernel matrix (test/kernel-matrix/), where the guest has one slow CPU: it
// waits blocked (not spinning) until told to go, so it does not steal the CPU
// from kdelay while kdelay starts.
//
//   matrix_workload ROUNDS GETPPIDS SPIN_MS GAP_MS
//
// After SIGUSR1 a thread "worker" runs ROUNDS rounds. Each round:
//   USDT kdelay_test:start
//   GETPPIDS getppid() calls
//   one 1 ms nanosleep()     (a stretch on the CPU ends; the wake-up waits for it: RUN, READY)
//   one UDP datagram to itself over loopback, received back
//                            (sendto, recvfrom; the NET_RX softirq runs in this thread)
//   SPIN_MS of busy work     (on the CPU while timer interrupts arrive)
//   USDT kdelay_test:stop
//   one GAP_MS nanosleep()   (outside a triggered window)
// So a whole run has ROUNDS*GETPPIDS getppid, 2*ROUNDS nanosleep, ROUNDS
// sendto and ROUNDS recvfrom calls; a start/stop window holds exactly
// GETPPIDS getppid, 1 nanosleep, 1 sendto and 1 recvfrom.
// The socket is set up before "ready". See workload.h for the protocol.
#include "workload.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/sdt.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int rounds, getppids, spin_ms, gap_ms;
static int sock;
static struct sockaddr_in self;
static pthread_barrier_t go;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void *worker(void *unused)
{
	char byte = 'x';

	pthread_setname_np(pthread_self(), "worker");
	pthread_barrier_wait(&go);
	for (int round = 1; round <= rounds; round++) {
		DTRACE_PROBE(kdelay_test, start);
		for (int i = 0; i < getppids; i++)
			syscall(SYS_getppid); /* not glibc's getppid(), which could be cached one day */
		sleep_ms(1);
		if (sendto(sock, &byte, 1, 0, (struct sockaddr *)&self, sizeof(self)) != 1 ||
		    recvfrom(sock, &byte, 1, 0, NULL, NULL) != 1)
			abort();
		workload_spin_ns(spin_ms * 1000000LL);
		DTRACE_PROBE(kdelay_test, stop);
		sleep_ms(gap_ms);
	}
	workload_worker_done();
	return unused;
}

int main(int argc, char **argv)
{
	socklen_t len = sizeof(self);

	if (argc != 5) {
		fprintf(stderr, "usage: %s ROUNDS GETPPIDS SPIN_MS GAP_MS\n", argv[0]);
		return 2;
	}
	rounds = atoi(argv[1]);
	getppids = atoi(argv[2]);
	spin_ms = atoi(argv[3]);
	gap_ms = atoi(argv[4]);

	self.sin_family = AF_INET;
	self.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sock = socket(AF_INET, SOCK_DGRAM, 0);
	if (sock < 0 || bind(sock, (struct sockaddr *)&self, sizeof(self)) || getsockname(sock, (struct sockaddr *)&self, &len)) {
		perror("loopback socket (is lo up?)");
		return 1;
	}

	workload_init();
	pthread_barrier_init(&go, NULL, 2);
	pthread_barrier_init(&workload_done_barrier, NULL, 2);
	pthread_barrier_init(&workload_quit_barrier, NULL, 2);
	pthread_t thread;
	pthread_create(&thread, NULL, worker, NULL);
	workload_ready_and_wait();
	pthread_barrier_wait(&go);
	pthread_barrier_wait(&workload_done_barrier);
	printf("done\n");
	fflush(stdout);
	workload_linger();
	pthread_barrier_wait(&workload_quit_barrier);
	return 0;
}
