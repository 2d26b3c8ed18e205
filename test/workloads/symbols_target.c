// symbols_target: a process with known functions for the symbolizer tests
// (test/integration/symbols.test.ts). Prints "ready <pid>", then one line per address
// the test checks, then "done", and waits for SIGTERM:
//   fn <name> <address>      runtime address of a noinline function here
//   libc getppid <address>   getppid in libc (resolved via dlsym: in a
//                            non-PIE build &getppid may be this binary's PLT)
//   vdso <address>           where the vDSO's ELF image starts (0 if none)
//   anon <address>           an anonymous executable page (JIT-like code)
// Built by the tests as PIE, as non-PIE, and stripped.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

volatile unsigned long sink;

// Each function does enough work that it is more than 16 bytes long, so
// address+5 and +0x10 stay inside it.
__attribute__((noinline)) void symbols_alpha(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		sink += i * 3 + (sink >> 1);
}

__attribute__((noinline)) void symbols_beta(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		sink ^= i * 7 + (sink << 2);
}

// Static: only in .symtab, never in .dynsym, so gone when stripped.
__attribute__((noinline)) static void symbols_local(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		sink -= i * 11 + (sink >> 3);
}

// Exported to .dynsym by the test's -Wl,--export-dynamic-symbol build, so it
// survives strip.
__attribute__((noinline)) void symbols_exported(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		sink += i * 13 + (sink << 1);
}

int main(void)
{
	void *anon = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	symbols_alpha(3);
	symbols_beta(3);
	symbols_local(3);
	symbols_exported(3);
	printf("ready %d\n", getpid());
	printf("fn symbols_alpha %p\n", (void *)symbols_alpha);
	printf("fn symbols_beta %p\n", (void *)symbols_beta);
	printf("fn symbols_local %p\n", (void *)symbols_local);
	printf("fn symbols_exported %p\n", (void *)symbols_exported);
	printf("fn main %p\n", (void *)main);
	printf("libc getppid %p\n", dlsym(RTLD_NEXT, "getppid"));
	printf("vdso %#lx\n", getauxval(AT_SYSINFO_EHDR));
	printf("anon %p\n", anon == MAP_FAILED ? NULL : anon);
	printf("done\n");
	fflush(stdout);
	for (;;)
		pause();
}
