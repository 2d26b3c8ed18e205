// libkdtest.so: a shared library whose two functions bracket a workload's
// measured phase, for uprobe triggers on library functions
// (up:libkdtest.so:phase_begin). Built with gcc -shared -fPIC at test time
// (test/helpers/workloads.ts). Neither makes a system call.

/* Not inlined, and with an empty asm so calls are not merged: uprobe targets. */
__attribute__((noinline)) int phase_begin(int round)
{
	__asm__ volatile("" ::: "memory");
	return round;
}

__attribute__((noinline)) int phase_end(int round)
{
	__asm__ volatile("" ::: "memory");
	return round;
}
