/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * kdelay_records.bpf.h - the records the host itself reads or writes, declared
 * once: the capture gate (host/driver/gate.ts), syscall events
 * (host/driver/syscall-events.ts), trigger hits
 * (host/driver/trigger-events.ts) and the sizes of the maps the host shares. The host's readers and writers are
 * generated from these declarations' BTF into host/runtime/kernel-records.ts
 * by `npm run build:probes` (`npm run check:probes` fails when it is stale);
 * the probes' AssemblyScript gets the same in probes/lib/build/.
 * The accounting contract at the end (states, system call markers,
 * histograms) is generated into host/bundle/accounting-contract.ts instead:
 * the report reads it, and report/ may not import runtime/.
 * Explicitly padded: every byte is a field the host can see.
 */
#ifndef KDELAY_RECORDS_BPF_H
#define KDELAY_RECORDS_BPF_H

#include "kdelay_core.bpf.h"

enum kdelay_gate_state {
	KDELAY_GATE_IDLE = 0,      /* closed; a start trigger may open it */
	KDELAY_GATE_OPEN = 1,      /* measuring */
	KDELAY_GATE_REPORTING = 2, /* closed while the host reports */
};
KDELAY_SHARED_ENUM(kdelay_gate_state)

/* The one entry of the kdelay_gate map. */
struct kdelay_gate {
	u64 state;           /* enum kdelay_gate_state */
	u64 window_start_ns; /* bpf_ktime_get_ns() when the window opened */
	u64 window_stop_ns;  /* when it closed (0 while open) */
	u64 missed_starts;   /* start triggers that fired while REPORTING */
};
KDELAY_SHARED_STRUCT(kdelay_gate)

/* One record of the kdelay_syscall_events ring (--syscall-events). */
struct kdelay_syscall_event {
	u64 entry_ns;
	u64 exit_ns;
	u32 tid;
	u32 nr;
	s32 kernel_stack_id; /* negative: no stack (errno from bpf_get_stackid, or stacks off) */
	s32 user_stack_id;
	/*
	 * With stacks: where the call blocked. Of the times it went off the CPU
	 * blocked (not preempted), the longest stretch (blocked_ns) and the
	 * kernel stack at its switch-out; blocked_count is how many there were
	 * (0: the call never blocked, and blocked_stack_id is negative).
	 */
	u64 blocked_ns;
	s32 blocked_stack_id;
	u32 blocked_count;
};
KDELAY_SHARED_STRUCT(kdelay_syscall_event)

enum kdelay_trigger_event_kind {
	KDELAY_TRIGGER_START = 1,
	KDELAY_TRIGGER_STOP = 2,
};
KDELAY_SHARED_ENUM(kdelay_trigger_event_kind)

/* One record of the kdelay_trigger_events ring: a hit that moved the gate. */
struct kdelay_trigger_event {
	u64 ts;   /* bpf_ktime_get_ns() of the hit */
	u32 kind; /* enum kdelay_trigger_event_kind */
	u32 pad;
};
KDELAY_SHARED_STRUCT(kdelay_trigger_event)

enum kdelay_catch_kind {
	KDELAY_CATCH_LONG_POLL = 1, /* [return of a poll(), entry of the next poll()] of one thread */
	KDELAY_CATCH_SYSCALL = 2,   /* [entry, exit] of one system call */
};
KDELAY_SHARED_ENUM(kdelay_catch_kind)

/* One record of the kdelay_catch_events ring (--catch-long-poll, --catch-syscall). */
struct kdelay_catch_event {
	u64 start_ns; /* bpf_ktime_get_ns() */
	u64 stop_ns;
	u32 tid;
	u32 nr;   /* the system call (KDELAY_CATCH_SYSCALL), or the poll() number */
	u32 kind; /* enum kdelay_catch_kind */
	u32 pad;
};
KDELAY_SHARED_STRUCT(kdelay_catch_event)

/*
 * Sizes of maps the host creates and shares into the probes, which declare
 * them with the same sizes (bpf_map__reuse_fd checks they match).
 */
enum kdelay_shared_map_sizes {
	KDELAY_TRIGGER_RING_BYTES = 64 * 1024, /* kdelay_trigger_events */
	KDELAY_CATCH_RING_BYTES = 64 * 1024,   /* kdelay_catch_events */
	KDELAY_MAX_STACK_DEPTH = 127,          /* PERF_MAX_STACK_DEPTH: frames per kdelay_stack_traces entry */
};
KDELAY_SHARED_ENUM(kdelay_shared_map_sizes)

enum kdelay_exited_threads_size {
	KDELAY_EXITED_THREADS = 4096, /* entries of kdelay_exited_threads */
};
KDELAY_SHARED_ENUM(kdelay_exited_threads_size)

/*
 * One entry of the kdelay_exited_threads hash, keyed by the kernel's tid: a
 * target thread that exited, with the name it had then. /proc forgets a
 * thread when it exits; the report still needs its name. The sched probe
 * writes it at the thread's last switch-out; the host reads it for each
 * report and empties the map after it (host/driver/exited-threads.ts).
 */
struct kdelay_exited_thread {
	char comm[16]; /* TASK_COMM_LEN, NUL-terminated */
	u64 exit_ns;   /* bpf_ktime_get_ns() at the last switch-out */
};
KDELAY_SHARED_STRUCT(kdelay_exited_thread)

/*
 * The accounting contract: what the probe that provides "accounting"
 * (probes/account) reports and the host's verdict reads
 * (host/report/accounts.ts, host/driver/quiet-threads.ts).
 *
 * Each thread of the target is, at any moment, in exactly one state (see
 * probes/account/account.bpf.c). A row of the "account" section is
 * (tid; state, nr, count, ns): state is an enum account_state, or one of
 * enum account_life for the part of the window a thread did not live.
 */
enum account_state {
	ACCOUNT_USER = 0,
	ACCOUNT_SYSCALL = 1,
	ACCOUNT_HARDIRQ = 2,
	ACCOUNT_SOFTIRQ = 3,
	ACCOUNT_RUNNABLE = 4,
	ACCOUNT_BLOCKED = 5,
	ACCOUNT_STOPPED = 6,
	ACCOUNT_UNKNOWN = 7,
	ACCOUNT_STATES = 8,
};
KDELAY_SHARED_ENUM(account_state)

/* Rows of the "account" section that are no state: the window outside a thread's life. */
enum account_life {
	ACCOUNT_BEFORE_BIRTH = 8, /* the part of the window before the thread began */
	ACCOUNT_AFTER_EXIT = 9,   /* the part after it exited */
};
KDELAY_SHARED_ENUM(account_life)

/* The nr of a state that is in no (known) system call. */
enum account_syscall_nr {
	/* Not in a system call. */
	ACCOUNT_NO_SYSCALL = 0xffffffff,
	/* In a system call entered before kdelay first saw the thread. */
	ACCOUNT_UNKNOWN_SYSCALL = 0xfffffffe,
};
KDELAY_SHARED_ENUM(account_syscall_nr)

/*
 * --hist: log2 histograms, reported with report_histograms(); slot s counts
 * durations in [2^s, 2^(s+1)) ns (slot 0 also holds 0).
 */
enum account_hist {
	ACCOUNT_HIST_SLOTS = 40,    /* log2(ns) buckets: the last one holds 2^39 ns (9 min) and up */
	ACCOUNT_HIST_RUN_QUEUE = 0, /* kind: run-queue waits */
	ACCOUNT_HIST_SYSCALL = 1,   /* kind: system call durations (nr: the call) */
};
KDELAY_SHARED_ENUM(account_hist)

#endif /* KDELAY_RECORDS_BPF_H */
