/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * kdelay_account.bpf.h - the account probe's per-thread record and its
 * transitions (the states and the rules: probes/account/account.bpf.c),
 * and what each event it hooks does to them: a system call's entry and
 * exit, a context switch, a wake-up, a runtime tick (kdelay_account_*()).
 *
 * A BPF program invocation is the dearest part of a small hook: two
 * retpolined indirect calls, a recursion guard and an RCU section, ~100 ns
 * per event on the bench VM against ~40 ns for the account work itself.
 * So when the sched and syscalls probes are loaded beside the account
 * probe, their *_account programs (loaded instead of their plain ones) call
 * these functions on the account probe's maps, shared into their objects
 * by the host, and the account probe loads no programs of its own on their
 * hooks: a system call or a context switch then costs the invocations it
 * costs without --verdict. Without one of them (--skip sched, --skip
 * syscalls, --only account), the account probe's own programs on that
 * probe's hooks call the same functions.
 *
 * The includer sees the maps below as its own; the user halves make them
 * one (probes/account/account.ts creates them; sched.ts and syscalls.ts
 * share them at their size through carryAccountWork(), or keep their
 * copies at one row when the account probe is not loaded).
 */
#ifndef KDELAY_ACCOUNT_BPF_H
#define KDELAY_ACCOUNT_BPF_H

#include "kdelay_core.bpf.h"
#include "kdelay_gate.bpf.h"
#include "kdelay_hist.bpf.h"
#include "kdelay_records.bpf.h"
#include "kdelay_stats.bpf.h"

/* Set by the user halves: --hist. */
const volatile bool account_hist_enabled = false;

/*
 * What each target thread is doing now, and its sums for the window that
 * began at `window`. The sums live here, not in account_time, so that a
 * transition costs one map lookup (this record): only time in a system call
 * other than those the record holds (syscall_nr and syscall2_nr, blocked_nr)
 * moves a held sum to account_time. The user half reads both.
 */
struct account_thread {
	u64 since;      /* start of the current segment; 1: since before kdelay saw the thread */
	u64 irq_ns;     /* interrupt time already accounted inside the current on-CPU segment */
	u64 syscall_ns; /* entry of the current system call (0: none seen) */
	u32 state;      /* enum account_state of the current segment */
	u32 nr;         /* the system call it is in, or enum account_syscall_nr */
	u32 wait_cpu;   /* RUNNABLE: the CPU whose run queue it waits on */
	u32 dead;       /* exited: the user half deletes the record after reporting its sums */
	u64 window;     /* window_start_ns of the window sum_ns and sum_count belong to */
	u64 sum_ns[ACCOUNT_STATES];
	u64 sum_count[ACCOUNT_STATES];
	u32 syscall_nr; /* the system call sum_ns[ACCOUNT_SYSCALL] is for */
	u32 blocked_nr; /* the system call sum_ns/sum_count[ACCOUNT_BLOCKED] are for */
	/*
	 * The system call held before syscall_nr, with its sums: a thread that
	 * alternates two calls (a write and a read) adds to account_time only
	 * when a third one comes.
	 */
	u32 syscall2_nr;
	u32 pad;
	u64 syscall2_ns;
	u64 syscall2_count;
	u64 born_ns; /* sched_wakeup_new of this thread (0: born before kdelay saw it) */
	u64 exit_ns; /* its last switch-out (0: alive) */
};

struct account_key {
	u32 tid;
	u32 state; /* enum account_state */
	u32 nr;    /* SYSCALL and BLOCKED: the system call, else ACCOUNT_NO_SYSCALL */
};

struct account_value {
	u64 count; /* segments that began in this state (waits, sleeps, IRQ handler runs...) */
	u64 total_ns;
};

/*
 * state and nr are written together, in one 8-byte store: the sys_enter and
 * sys_exit programs run preemptibly (syscall tracepoints may fault), and a
 * context switch in between must never see a state with another one's nr.
 */
_Static_assert(__builtin_offsetof(struct account_thread, state) % 8 == 0 &&
                       __builtin_offsetof(struct account_thread, nr) ==
                               __builtin_offsetof(struct account_thread, state) + 4,
               "account_thread: state and nr must share one aligned u64");

static __always_inline void account_set_state(struct account_thread *thread, u32 state, u32 nr)
{
	*(volatile u64 *)&thread->state = (u64)nr << 32 | state;
}

/* The clipped end of the segment a thread was in when the window closed. */
struct account_tail {
	u64 ns;
	u32 state;
	u32 nr;
};

struct account_histogram_key {
	u32 tid;
	u32 kind; /* ACCOUNT_HIST_RUN_QUEUE or ACCOUNT_HIST_SYSCALL */
	u32 nr;   /* ACCOUNT_HIST_SYSCALL: the system call */
};

struct account_histogram_value {
	u32 slots[ACCOUNT_HIST_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u32);
	__type(value, struct account_thread);
} account_thread SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct account_key);
	__type(value, struct account_value);
} account_time SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u32);
	__type(value, struct account_tail);
} account_tail SEC(".maps");

/* Sized to 1 by the user half unless --hist. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct account_histogram_key);
	__type(value, struct account_histogram_value);
} account_hist SEC(".maps");

/* Context switches of target threads that arrived without the switch-out before them. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} missed_switches SEC(".maps");

static __always_inline void account_count_missed_switch(void)
{
	kdelay_count_percpu(&missed_switches, 0);
}

static __always_inline void account_add(u32 tid, u32 state, u32 nr, u64 count, u64 ns)
{
	struct account_key key = { .tid = tid, .state = state, .nr = nr };
	struct account_value zero = {};
	struct account_value *value;

	if (!count && !ns)
		return;
	value = kdelay_lookup_or_init(&account_time, &key, &zero);
	if (!value)
		return;
	value->count += count;
	value->total_ns += ns;
}

/*
 * Adds to the thread's sums for the open window (starting them afresh if
 * they belong to an earlier one). SYSCALL and BLOCKED hold one system
 * call's time each: time in another moves the held sum to account_time.
 */
static __always_inline void account_record_add(struct account_thread *thread, u32 tid, u32 state, u32 nr, u64 count,
                                               u64 ns, const struct kdelay_gate *gate)
{
	if (!count && !ns)
		return;
	if (thread->window != gate->window_start_ns) {
		__builtin_memset(thread->sum_ns, 0, sizeof(thread->sum_ns));
		__builtin_memset(thread->sum_count, 0, sizeof(thread->sum_count));
		thread->window = gate->window_start_ns;
		thread->syscall_nr = ACCOUNT_NO_SYSCALL;
		thread->blocked_nr = ACCOUNT_NO_SYSCALL;
		thread->syscall2_nr = ACCOUNT_NO_SYSCALL;
		thread->syscall2_ns = 0;
		thread->syscall2_count = 0;
	}
	/* Constant indexes only: 5.10's and 6.1's verifiers refuse a state-indexed store here. */
	switch (state) {
	case ACCOUNT_SYSCALL:
		if (thread->syscall_nr != nr) {
			/* The held call becomes the one before; the one before that, unless it is nr, goes to account_time. */
			u64 held_ns = thread->sum_ns[ACCOUNT_SYSCALL], held_count = thread->sum_count[ACCOUNT_SYSCALL];
			u32 held_nr = thread->syscall_nr;

			if (thread->syscall2_nr == nr) {
				thread->sum_ns[ACCOUNT_SYSCALL] = thread->syscall2_ns;
				thread->sum_count[ACCOUNT_SYSCALL] = thread->syscall2_count;
			} else {
				account_add(tid, ACCOUNT_SYSCALL, thread->syscall2_nr, thread->syscall2_count,
				            thread->syscall2_ns);
				thread->sum_ns[ACCOUNT_SYSCALL] = 0;
				thread->sum_count[ACCOUNT_SYSCALL] = 0;
			}
			thread->syscall2_nr = held_nr;
			thread->syscall2_ns = held_ns;
			thread->syscall2_count = held_count;
			thread->syscall_nr = nr;
		}
		thread->sum_ns[ACCOUNT_SYSCALL] += ns;
		thread->sum_count[ACCOUNT_SYSCALL] += count;
		break;
	case ACCOUNT_BLOCKED:
		if (thread->blocked_nr != nr) {
			account_add(tid, ACCOUNT_BLOCKED, thread->blocked_nr, thread->sum_count[ACCOUNT_BLOCKED],
			            thread->sum_ns[ACCOUNT_BLOCKED]);
			thread->sum_ns[ACCOUNT_BLOCKED] = 0;
			thread->sum_count[ACCOUNT_BLOCKED] = 0;
			thread->blocked_nr = nr;
		}
		thread->sum_ns[ACCOUNT_BLOCKED] += ns;
		thread->sum_count[ACCOUNT_BLOCKED] += count;
		break;
#define ACCOUNT_SUM_CASE(s)                    \
	case s:                                \
		thread->sum_ns[s] += ns;       \
		thread->sum_count[s] += count; \
		break;
		ACCOUNT_SUM_CASE(ACCOUNT_USER)
		ACCOUNT_SUM_CASE(ACCOUNT_HARDIRQ)
		ACCOUNT_SUM_CASE(ACCOUNT_SOFTIRQ)
		ACCOUNT_SUM_CASE(ACCOUNT_RUNNABLE)
		ACCOUNT_SUM_CASE(ACCOUNT_STOPPED)
		ACCOUNT_SUM_CASE(ACCOUNT_UNKNOWN)
#undef ACCOUNT_SUM_CASE
	}
}

/*
 * Ends the thread's current segment at now and starts `next` (in system call
 * nr for SYSCALL and BLOCKED). count_next: the new segment is counted when it
 * begins inside the window (a wait, a sleep, a stop).
 */
static __always_inline void account_transition_to(struct account_thread *thread, u32 tid, u32 next, u32 next_nr,
                                                  u64 now, const struct kdelay_gate *gate)
{
	u32 state = thread->state;
	u32 nr = state == ACCOUNT_SYSCALL || state == ACCOUNT_BLOCKED ? thread->nr : ACCOUNT_NO_SYSCALL;
	u64 since = thread->since;

	/* On a CPU in a system call kdelay cannot name: not known which. */
	if (state == ACCOUNT_SYSCALL && nr >= ACCOUNT_UNKNOWN_SYSCALL) {
		state = ACCOUNT_UNKNOWN;
		nr = ACCOUNT_NO_SYSCALL;
	}
	if (gate && gate->state == KDELAY_GATE_OPEN) {
		u64 ns = kdelay_in_window(gate, since, now);
		bool on_cpu = state == ACCOUNT_USER || state == ACCOUNT_SYSCALL || state == ACCOUNT_UNKNOWN;

		/* Interrupt time was accounted apart (irq_ns is 0 unless the thread was current). */
		ns = ns > thread->irq_ns ? ns - thread->irq_ns : 0;
		account_record_add(thread, tid, state, nr, !on_cpu && since >= gate->window_start_ns ? 1 : 0, ns, gate);
	} else if (gate && gate->state == KDELAY_GATE_REPORTING && since < gate->window_stop_ns) {
		/*
		 * In the segment when the window closed, out of it before the
		 * user half looked: clip it here. The user half counts each
		 * thread's tail once, from here or from account_thread.
		 */
		u64 from = since > gate->window_start_ns ? since : gate->window_start_ns;
		struct account_tail tail = { .state = state, .nr = nr };

		tail.ns = gate->window_stop_ns > from ? gate->window_stop_ns - from : 0;
		tail.ns = tail.ns > thread->irq_ns ? tail.ns - thread->irq_ns : 0;
		if (bpf_map_update_elem(&account_tail, &tid, &tail, BPF_NOEXIST) == -7 /* E2BIG */)
			kdelay_count_map_full();
	}
	account_set_state(thread, next, next_nr);
	thread->since = now;
	thread->irq_ns = 0;
}

/* account_transition_to() staying in the same system call (or none). */
static __always_inline void account_transition(struct account_thread *thread, u32 tid, u32 next, u64 now,
                                               const struct kdelay_gate *gate)
{
	account_transition_to(thread, tid, next, thread->nr, now, gate);
}

/* On a CPU in system call nr (or enum account_syscall_nr): the state that is. */
static __always_inline u32 account_on_cpu_state(u32 nr)
{
	if (nr == ACCOUNT_NO_SYSCALL)
		return ACCOUNT_USER;
	return nr == ACCOUNT_UNKNOWN_SYSCALL ? ACCOUNT_UNKNOWN : ACCOUNT_SYSCALL;
}

/* Its record, if kdelay has seen the thread and it has not exited since. */
static __always_inline struct account_thread *account_seen(u32 tid)
{
	struct account_thread *thread = bpf_map_lookup_elem(&account_thread, &tid);

	return thread && !thread->dead ? thread : NULL;
}

/*
 * The record of a thread kdelay sees for the first time, in `state` (in
 * system call nr) since before it looked. A new thread with an exited one's
 * tid (whose record is not yet deleted) starts afresh; the sums stay, and
 * the user half finds them more than its life and says its account is
 * incomplete.
 */
static __always_inline struct account_thread *account_first_seen(u32 tid, u32 state, u32 nr)
{
	struct account_thread *thread = bpf_map_lookup_elem(&account_thread, &tid);
	struct account_thread first = { .since = 1, .state = state, .nr = nr };

	if (thread) {
		thread->since = 1;
		account_set_state(thread, state, nr);
		thread->irq_ns = 0;
		thread->syscall_ns = 0;
		thread->dead = 0;
		thread->born_ns = 0;
		thread->exit_ns = 0;
		return thread;
	}
	bpf_map_update_elem(&account_thread, &tid, &first, BPF_NOEXIST);
	thread = bpf_map_lookup_elem(&account_thread, &tid);
	if (!thread)
		kdelay_count_map_full();
	return thread;
}

static __always_inline void account_hist_add(u32 tid, u32 kind, u32 nr, u64 ns)
{
	struct account_histogram_key key = { .tid = tid, .kind = kind, .nr = nr };
	struct account_histogram_value zero = {};
	struct account_histogram_value *hist;
	u64 slot = kdelay_log2_slot(ns, ACCOUNT_HIST_SLOTS);

	hist = kdelay_lookup_or_init(&account_hist, &key, &zero);
	if (!hist)
		return;
	/*
	 * Bounded here, in 64 bits, for 5.10's and 6.1's verifiers: they give
	 * up on an OR whose operand is not a constant (kdelay_log2_slot's), leaving a
	 * register with unknown upper bits, which the 32-bit compare clang made
	 * of kdelay_log2_slot's cap does not bound ("math between map_value pointer and
	 * register with unbounded min value"). The empty asm keeps clang, which
	 * knows slot < 40, from dropping this compare or narrowing it to 32 bits.
	 */
	asm volatile("" : "+r"(slot));
	if (slot < ACCOUNT_HIST_SLOTS)
		hist->slots[slot]++;
}

static __always_inline bool account_off_cpu(u32 state)
{
	return state == ACCOUNT_RUNNABLE || state == ACCOUNT_BLOCKED || state == ACCOUNT_STOPPED;
}

/*
 * A context switch that should have come before this event was not seen:
 * the stretch since the last one seen is partly on a CPU and partly off it,
 * in proportions nobody knows. It is closed as UNKNOWN, never as made-up
 * run (or wait) time.
 */
static __always_inline void account_missed_switch(struct account_thread *thread, const struct kdelay_gate *gate)
{
	/* Counted in a window only: the programs attach one by one, and events before all are attached are not lost ones. */
	if (gate && gate->state == KDELAY_GATE_OPEN)
		account_count_missed_switch();
	thread->state = ACCOUNT_UNKNOWN;
}

/* The number of the system call a sys_exit is for. */
static __always_inline u32 account_exiting_syscall(struct pt_regs *regs)
{
	long nr = kdelay_syscall_nr(regs);
	return nr < 0 ? ACCOUNT_UNKNOWN_SYSCALL : (u32)nr;
}

/*
 * Who delayed it: while a target thread waits on a CPU's run queue, that
 * CPU's waiters[] slot lists it, and every context switch there charges the
 * task switched out with its overlap (kdelay_delayers.bpf.h).
 */
enum account_limits {
	ACCOUNT_WAITERS_PER_CPU = 4, /* waiting target threads tracked per run queue */
};
KDELAY_SHARED_ENUM(account_limits)

#define KDELAY_WAITERS_PER_CPU ACCOUNT_WAITERS_PER_CPU
#include "kdelay_delayers.bpf.h" /* waiters, delayers: who ran while a thread waited */

/* For kdelay_charge_delayers(): tid still waits on cpu's run queue, since the same moment. */
static __always_inline bool kdelay_still_waiting(u32 tid, u32 cpu, u64 since)
{
	struct account_thread *waiter = bpf_map_lookup_elem(&account_thread, &tid);

	return waiter && waiter->state == ACCOUNT_RUNNABLE && waiter->wait_cpu == cpu && waiter->since == since;
}

/*
 * The registers a thread entered the kernel with from user space
 * (task_pt_regs(): the top of its kernel stack), and from them the system
 * call it is in: its number, ACCOUNT_NO_SYSCALL (it entered for an
 * interrupt or an exception, e.g. a page fault, or is in user space), or
 * ACCOUNT_UNKNOWN_SYSCALL (the registers could not be found). The stack's
 * size and the padding above the registers vary with the kernel's
 * configuration (KASAN doubles the stack, x86's FRED pads 16 bytes), so each
 * candidate is taken only if it holds a user-mode frame. Read once per
 * thread, when kdelay first sees it.
 */
struct task_struct___stack {
	void *stack;
};

#if defined(__TARGET_ARCH_x86)
#define ACCOUNT_ENOSYS    38
#define ACCOUNT_USER_CS   0x33 /* __USER_CS */
#define ACCOUNT_USER32_CS 0x23 /* __USER32_CS */
#define ACCOUNT_USER_DS   0x2b /* __USER_DS, also the 64-bit ss */

static __always_inline bool account_user_frame_at(void *top, u32 *nr, bool entry_only)
{
	struct pt_regs regs;

	if (bpf_probe_read_kernel(&regs, sizeof(regs), top - sizeof(regs)))
		return false;
	if ((regs.cs & 0xffff) != ACCOUNT_USER_CS && (regs.cs & 0xffff) != ACCOUNT_USER32_CS)
		return false;
	if ((regs.ss & 0xffff) != ACCOUNT_USER_DS)
		return false;
	/*
	 * A system call's entry stores its number in orig_ax and -ENOSYS in ax
	 * until it returns; an interrupt stores a negative orig_ax, an
	 * exception its error code (with the user's ax).
	 */
	if ((long)regs.orig_ax < 0 || (!entry_only && (long)regs.ax != -ACCOUNT_ENOSYS))
		*nr = ACCOUNT_NO_SYSCALL;
	else
		*nr = (u32)regs.orig_ax;
	return true;
}

/* x86's FRED pads 16 bytes above the registers. */
#define ACCOUNT_USER_FRAME_PAD 16
#elif defined(__TARGET_ARCH_arm64)
static __always_inline bool account_user_frame_at(void *top, u32 *nr, bool entry_only)
{
	u32 size = bpf_core_type_size(struct pt_regs);
	struct pt_regs *regs = top - size;
	struct user_pt_regs user;
	s32 syscallno;

	if (bpf_probe_read_kernel(&user, sizeof(user), regs))
		return false;
	/* EL0 (mode bits 0) and user addresses. */
	if ((user.pstate & 0xf) || user.pc >> 56 || user.sp >> 56)
		return false;
	syscallno = kdelay_syscall_nr(regs);
	*nr = syscallno < 0 ? ACCOUNT_NO_SYSCALL : (u32)syscallno;
	return true;
}

/* Nothing above the registers. */
#define ACCOUNT_USER_FRAME_PAD 0
#endif

/* The user frame at the top of a 16 or 32 KiB (KASAN) stack, right there or below ACCOUNT_USER_FRAME_PAD. */
static __always_inline u32 account_entered_syscall(struct task_struct *task, bool entry_only)
{
	void *stack = BPF_CORE_READ((struct task_struct___stack *)task, stack);
	u32 nr = ACCOUNT_UNKNOWN_SYSCALL;

	if (!stack)
		return nr;
	if (account_user_frame_at(stack + 16384, &nr, entry_only) ||
	    (ACCOUNT_USER_FRAME_PAD &&
	     account_user_frame_at(stack + 16384 - ACCOUNT_USER_FRAME_PAD, &nr, entry_only)) ||
	    account_user_frame_at(stack + 32768, &nr, entry_only) ||
	    (ACCOUNT_USER_FRAME_PAD && account_user_frame_at(stack + 32768 - ACCOUNT_USER_FRAME_PAD, &nr, entry_only)))
		return nr;
	return ACCOUNT_UNKNOWN_SYSCALL;
}

/* A thread seen on a CPU (running, or switching out): where its registers say it is. */
static __always_inline struct account_thread *account_thread_on_cpu(u32 tid, struct task_struct *task)
{
	struct account_thread *thread = account_seen(tid);
	u32 nr;

	if (thread)
		return thread;
	nr = account_entered_syscall(task, false);
	return account_first_seen(tid, account_on_cpu_state(nr), nr);
}

/* sched_wakeup of a target thread at now. */
static __always_inline void kdelay_account_wakeup(struct task_struct *p, u64 now, const struct kdelay_gate *gate)
{
	u32 tid = p->pid, nr;
	struct account_thread *thread = account_seen(tid);

	if (!thread) {
		/* First seen here: it was asleep, in the system call its registers name (or a page fault). */
		nr = account_entered_syscall(p, false);
		thread = account_first_seen(tid, ACCOUNT_BLOCKED, nr);
	}
	if (!thread)
		return;
	/* Woken while still on a CPU (or already waiting): nothing changes. */
	if (thread->state != ACCOUNT_BLOCKED && thread->state != ACCOUNT_STOPPED)
		return;
	account_transition(thread, tid, ACCOUNT_RUNNABLE, now, gate);
	thread->wait_cpu = kdelay_task_cpu(p);
	kdelay_waiter_add(thread->wait_cpu, tid, now);
}

static __always_inline void account_switch_out(struct task_struct *prev, bool preempt, u64 now,
                                               const struct kdelay_gate *gate)
{
	u32 tid = prev->pid;
	long state = kdelay_task_state(prev);
	struct account_thread *thread = account_thread_on_cpu(tid, prev);
	u32 next;

	if (!thread)
		return;
	/* Off a CPU as far as kdelay knows: the switch that put it on was never seen. */
	if (account_off_cpu(thread->state))
		account_missed_switch(thread, gate);
	if (state & TASK_DEAD) {
		/*
		 * Its last switch-out: account its last run and close its
		 * account. The record holds its sums, so the user half reports
		 * them and then deletes it.
		 */
		account_transition(thread, tid, ACCOUNT_BLOCKED, now, gate);
		thread->dead = 1;
		thread->exit_ns = now;
		return;
	}
	if (preempt || state == TASK_RUNNING)
		next = ACCOUNT_RUNNABLE;
	else if (state & __TASK_STOPPED)
		next = ACCOUNT_STOPPED;
	else
		next = ACCOUNT_BLOCKED; /* in thread->nr, or outside system calls */
	account_transition(thread, tid, next, now, gate);
	if (next == ACCOUNT_RUNNABLE) {
		thread->wait_cpu = bpf_get_smp_processor_id();
		kdelay_waiter_add(thread->wait_cpu, tid, now);
	}
}

static __always_inline void account_switch_in(struct task_struct *next, u64 now, const struct kdelay_gate *gate)
{
	u32 tid = next->pid;
	struct account_thread *thread = account_seen(tid);
	u64 since;
	u32 nr;

	if (!thread) {
		/* First seen here: it was waiting for this CPU, in the system call its registers name. */
		nr = account_entered_syscall(next, false);
		thread = account_first_seen(tid, ACCOUNT_RUNNABLE, nr);
	}
	if (!thread)
		return;
	since = thread->since;
	/* Already on a CPU, as far as kdelay knows: the switch that took it off was never seen. */
	if (!account_off_cpu(thread->state))
		account_missed_switch(thread, gate);
	if (thread->state == ACCOUNT_RUNNABLE) {
		kdelay_waiter_remove(thread->wait_cpu, tid);
		if (account_hist_enabled && gate && gate->state == KDELAY_GATE_OPEN && since >= gate->window_start_ns)
			account_hist_add(tid, ACCOUNT_HIST_RUN_QUEUE, ACCOUNT_NO_SYSCALL, now - since);
	}
	account_transition(thread, tid, account_on_cpu_state(thread->nr), now, gate);
}

/* sched_switch: this CPU's waiting target threads (kdelay_delayers.bpf.h). */
static __always_inline struct kdelay_waiters *kdelay_account_waiters(u32 cpu)
{
	return bpf_map_lookup_elem(&waiters, &cpu);
}

/* Whether target threads wait on the run queue of slot's CPU: then the account looks at every switch there. */
static __always_inline bool kdelay_account_waiting(const struct kdelay_waiters *slot)
{
	return slot && slot->count;
}

/*
 * A context switch on cpu at now, for the caller to call when a target
 * thread is in it or target threads wait on this CPU (slot, its waiters,
 * has a count): prev's run is charged to each waiter it delayed, and the
 * target threads among prev and next move to their next state. gate: in
 * any state (segments are tracked while it is closed too, so that the
 * window clips them).
 */
static __always_inline void kdelay_account_switch(bool preempt, struct task_struct *prev, struct task_struct *next,
                                                  bool prev_is_target, bool next_is_target, u32 cpu,
                                                  struct kdelay_waiters *slot, u64 now, const struct kdelay_gate *gate)
{
	if (kdelay_account_waiting(slot))
		kdelay_charge_delayers(slot, cpu, prev, now, gate);
	if (slot)
		slot->last_switch_ns = now;
	if (prev_is_target)
		account_switch_out(prev, preempt, now, gate);
	if (next_is_target)
		account_switch_in(next, now, gate);
}

/* sched_stat_runtime of a target thread: one on a CPU without a context switch since kdelay looked (a busy thread). */
static __always_inline void kdelay_account_runtime(struct task_struct *p)
{
	account_thread_on_cpu(p->pid, p);
}

/*
 * sched_wakeup_new of a target thread at now: its life begins here,
 * waiting for its first CPU. It then finishes the clone() it was created
 * by (a copy of its creator's entry registers: the call's number, with the
 * child's return value).
 */
static __always_inline void kdelay_account_wakeup_new(struct task_struct *p, u64 now)
{
	u32 tid = p->pid;
	u32 nr = account_entered_syscall(p, true);
	struct account_thread *thread = account_first_seen(tid, ACCOUNT_RUNNABLE, nr);

	if (!thread)
		return;
	thread->since = now;
	thread->born_ns = now;
	thread->wait_cpu = kdelay_task_cpu(p);
	kdelay_waiter_add(thread->wait_cpu, tid, now);
}

/*
 * A target thread enters system call id at now (gate: the shared gate, in
 * any state: segments are tracked while it is closed too, so that the
 * window clips them).
 */
static __always_inline void kdelay_account_sys_enter(u32 tid, long id, u64 now, const struct kdelay_gate *gate)
{
	/* First seen here: it was in user space. */
	struct account_thread *thread = account_seen(tid);

	if (!thread)
		thread = account_first_seen(tid, ACCOUNT_USER, ACCOUNT_NO_SYSCALL);
	if (!thread)
		return;
	/*
	 * It was in user space since its last event if that left it there;
	 * off a CPU (a missed switch-in) or in a system call (a missed exit),
	 * what it did since is not known.
	 */
	if (account_off_cpu(thread->state))
		account_missed_switch(thread, gate);
	else if (thread->state == ACCOUNT_SYSCALL)
		thread->state = ACCOUNT_UNKNOWN;
	account_transition_to(thread, tid, ACCOUNT_SYSCALL, (u32)id, now, gate);
	thread->syscall_ns = now;
}

/* A target thread returns from the system call its registers name, at now. */
static __always_inline void kdelay_account_sys_exit(u32 tid, struct pt_regs *regs, u64 now,
                                                    const struct kdelay_gate *gate)
{
	struct account_thread *thread = account_seen(tid);

	if (!thread) {
		/* First seen here: in this system call since before kdelay looked. */
		u32 nr = account_exiting_syscall(regs);

		thread = account_first_seen(tid, account_on_cpu_state(nr), nr);
	}
	if (!thread)
		return;
	if (account_off_cpu(thread->state))
		account_missed_switch(thread, gate);
	else if (thread->state == ACCOUNT_USER)
		thread->state = ACCOUNT_UNKNOWN; /* its entry was not seen */
	if (account_hist_enabled && thread->state == ACCOUNT_SYSCALL && thread->syscall_ns && gate &&
	    gate->state == KDELAY_GATE_OPEN && thread->syscall_ns >= gate->window_start_ns &&
	    thread->nr < ACCOUNT_UNKNOWN_SYSCALL)
		account_hist_add(tid, ACCOUNT_HIST_SYSCALL, thread->nr, now - thread->syscall_ns);
	account_transition_to(thread, tid, ACCOUNT_USER, ACCOUNT_NO_SYSCALL, now, gate);
	thread->syscall_ns = 0;
}

#endif /* KDELAY_ACCOUNT_BPF_H */
