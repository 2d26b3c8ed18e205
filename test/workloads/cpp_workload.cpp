// cpp_workload: slow calls made from C++ functions with mangled names (a
// namespace, a class template, a function template), for demangled -s
// stacks.
//
//   cpp_workload N
//
// After SIGUSR1 a thread "napper" calls kdtest::Napper<long>::run(N), which
// calls kdtest::detail::nap<long>() N times: a 10 ms nanosleep made with an
// inline `syscall` instruction (libc's wrapper has no frame pointer, which
// would hide its caller from the stack walk).
#include "workload.h"
#include <sys/syscall.h>
#include <unistd.h>

namespace kdtest
{
namespace detail
{
template <typename T> __attribute__((noinline)) void nap(T ms)
{
	struct timespec ts = { 0, static_cast<long>(ms) * 1000 * 1000 };
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(SYS_nanosleep), "D"(&ts), "S"(0L) : "rcx", "r11", "memory");
	__asm__ volatile("" ::: "memory");
}
} // namespace detail

template <typename T> class Napper
{
      public:
	__attribute__((noinline)) void run(int n)
	{
		for (int i = 0; i < n; i++)
			detail::nap<T>(10);
		__asm__ volatile("" ::: "memory");
	}
};
} // namespace kdtest

static int rounds;

static void *napper(void *unused)
{
	pthread_setname_np(pthread_self(), "napper");
	workload_wait_go();
	kdtest::Napper<long>().run(rounds);
	workload_worker_done();
	return unused;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s N\n", argv[0]);
		return 2;
	}
	rounds = atoi(argv[1]);
	return workload_run(1, napper);
}
