/**
 * `kdelay --legend` (or `kdelay help legend`): what the report's sections
 * mean, in a few lines each, for a reader who has not read the README. The
 * report points to it once, on a terminal.
 */
export const LEGEND = `How to read kdelay's report (per thread, during the sample window; times in ns):

  SYSCALL STATISTICS   each system call: how many, their total and longest duration.
                       TOTAL( - poll) leaves out poll(), where an event loop waits by design.
  LONG POLL            the time from returning from poll() to calling it again: the work
                       one event-loop iteration took (ovs-vswitchd's "Unreasonably long
                       ...ms poll interval" is this).
  RUN                  stretches on a CPU, switched in and out inside the window.
  PARTIAL RUN          stretches on a CPU that crossed an edge of the window, clipped to it
                       (a thread busy the whole window shows one, as long as the window).
  READY                waiting for a CPU: runnable, but another task had it. Long or many
                       READY waits are the kernel delaying the thread (a busy machine).
  STOPPED              stopped by a signal (SIGSTOP, job control) until continued.
  HARD IRQ, SOFT IRQ   interrupt work that ran on the thread's CPU while it was running.
  UPCALL               (Open vSwitch only, whole system) the kernel datapath's upcalls to
                       ovs-vswitchd, per CPU: total, successful, failed.

Where the thread waited by its own choice (sleeping in futex, poll, read) is
in SYSCALL STATISTICS; where the kernel made it wait is READY, STOPPED and
the IRQs. --verdict adds the sum per thread, and who ran while it waited.
A thread without system calls says "none in this window"; a window without
any thread, "# Idle". --format reference prints kernel_delay.py's layout.
README.md, "What the sections mean" and "The text report", says more.
`;
