// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * account.bpf.c - where every nanosecond of each thread's window went.
 *
 * Each thread of the target is, at any moment, in exactly one state:
 *
 *   on a CPU    USER (user space; minor page faults handled on the CPU are
 *               in here too: without kprobes no hook sees a fault end),
 *               SYSCALL nr (in the kernel for a system call), HARDIRQ and
 *               SOFTIRQ (interrupt work that ran while it was current);
 *   off a CPU   RUNNABLE (on a run queue, waiting for a CPU), BLOCKED nr
 *               (sleeping in system call nr; nr = NO_SYSCALL: sleeping outside
 *               any system call, i.e. in a page fault or another exception),
 *               STOPPED (SIGSTOP / job control);
 *   not known   UNKNOWN: a stretch kdelay cannot place. A thread first seen
 *               on a CPU is in user space or in a system call as the
 *               registers it entered the kernel with say (task_pt_regs(),
 *               found on its kernel stack: bpf_task_pt_regs() is 5.15+);
 *               if they cannot be read, it is UNKNOWN until its next
 *               system call or switch. A stretch after a missed context
 *               switch (a switch-in not seen after the last switch-out, or
 *               the reverse) is UNKNOWN too, never made-up run time.
 *
 * A thread's account covers the part of the window it lived: from its
 * birth (sched_wakeup_new) if that was inside, to its exit (its last
 * switch-out, TASK_DEAD) if that was inside.
 *
 * Every transition closes the current segment [since, now) and adds the part
 * of it inside the capture window to account_time[tid, state, nr], so that
 * a thread's states add up to the window: segments that cross the window's
 * edges are clipped, not dropped. IRQ time is carved out of the on-CPU
 * segment it interrupted. The segment still open when the window closes is
 * clipped by the user half (from account_thread) or, if the thread moves on
 * before the user half looks, by the kernel into account_tail (the scheme
 * sched.bpf.c uses for its run tails).
 *
 * Who delayed it: while a target thread waits on a CPU's run queue, that
 * CPU's waiters[] slot lists it. Every context switch on such a CPU charges
 * the task switched out (whoever it is) with the part of its run that
 * overlapped each wait. All changes to a CPU's slot happen under that CPU's
 * run-queue lock (sched_switch, and sched_wakeup, which the kernel fires with
 * the wakee's run queue locked), so plain writes are safe (kdelay_delayers.bpf.h).
 *
 * --hist: log2 histograms of run-queue waits and of each system call's
 * duration, for waits and calls that began inside the window (the rule of
 * THREAD READY and SYSCALL STATISTICS, so their counts agree).
 *
 * Every hook fires system-wide: each filters on the target's tgid before any
 * map work, except that a context switch of another process is also looked
 * at when this CPU has target threads waiting (one array lookup).
 */
#include "kdelay_core.bpf.h"
#include "kdelay_account.bpf.h" /* the thread record, its maps and transitions; system call entries and exits */
#include "kdelay_clock.bpf.h"
#include "kdelay_gate.bpf.h"
#include "kdelay_records.bpf.h"
#include "kdelay_stats.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * The programs attach in the order they are defined below (the user half's
 * attachAll()): context switches first, since a wake-up seen before them
 * would leave its thread waiting through a switch-in not seen; system call
 * exits before entries; then wake-ups and interrupts. The system call
 * programs load only without the syscalls probe: with it, its own sys_enter
 * and sys_exit programs do their work (kdelay_account.bpf.h).
 */

#define TASK_RUNNING   0
#define __TASK_STOPPED 0x4
#define TASK_DEAD      0x80

/* The states, enum account_syscall_nr and ACCOUNT_HIST_*: kdelay_records.bpf.h (the host reads them). */
enum account_limits {
	ACCOUNT_WAITERS_PER_CPU = 4, /* waiting target threads tracked per run queue */
};
KDELAY_SHARED_ENUM(account_limits)

#define KDELAY_WAITERS_PER_CPU ACCOUNT_WAITERS_PER_CPU
#include "kdelay_delayers.bpf.h" /* waiters, delayers: who ran while a thread waited */

/* The hard and soft interrupt in progress on this CPU, if it interrupted a target thread. */
struct irq_slot {
	u64 entry_ns;  /* 0: none */
	u64 nested_ns; /* softirq only: hard IRQ time inside it, accounted as HARDIRQ */
	u64 handler;
	u32 tid;
	u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2); /* 0: hard, 1: soft */
	__type(key, u32);
	__type(value, struct irq_slot);
} irq_slots SEC(".maps");

enum { IRQ_SLOT_HARD = 0, IRQ_SLOT_SOFT = 1 };

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
#define ACCOUNT_ENOSYS 38
#define USER_CS        0x33 /* __USER_CS */
#define USER32_CS      0x23 /* __USER32_CS */
#define USER_DS        0x2b /* __USER_DS, also the 64-bit ss */

static __always_inline bool user_frame_at(void *top, u32 *nr, bool entry_only)
{
	struct pt_regs regs;

	if (bpf_probe_read_kernel(&regs, sizeof(regs), top - sizeof(regs)))
		return false;
	if ((regs.cs & 0xffff) != USER_CS && (regs.cs & 0xffff) != USER32_CS)
		return false;
	if ((regs.ss & 0xffff) != USER_DS)
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
#define USER_FRAME_PAD 16
#elif defined(__TARGET_ARCH_arm64)
static __always_inline bool user_frame_at(void *top, u32 *nr, bool entry_only)
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
#define USER_FRAME_PAD 0
#endif

/* The user frame at the top of a 16 or 32 KiB (KASAN) stack, right there or below USER_FRAME_PAD. */
static __always_inline u32 entered_syscall(struct task_struct *task, bool entry_only)
{
	void *stack = BPF_CORE_READ((struct task_struct___stack *)task, stack);
	u32 nr = ACCOUNT_UNKNOWN_SYSCALL;

	if (!stack)
		return nr;
	if (user_frame_at(stack + 16384, &nr, entry_only) ||
	    (USER_FRAME_PAD && user_frame_at(stack + 16384 - USER_FRAME_PAD, &nr, entry_only)) ||
	    user_frame_at(stack + 32768, &nr, entry_only) ||
	    (USER_FRAME_PAD && user_frame_at(stack + 32768 - USER_FRAME_PAD, &nr, entry_only)))
		return nr;
	return ACCOUNT_UNKNOWN_SYSCALL;
}

/* A thread seen on a CPU (running, or switching out): where its registers say it is. */
static __always_inline struct account_thread *thread_on_cpu(u32 tid, struct task_struct *task)
{
	struct account_thread *thread = account_seen(tid);
	u32 nr;

	if (thread)
		return thread;
	nr = entered_syscall(task, false);
	return account_first_seen(tid, account_on_cpu_state(nr), nr);
}

/* For kdelay_charge_delayers(): tid still waits on cpu's run queue, since the same moment. */
static __always_inline bool kdelay_still_waiting(u32 tid, u32 cpu, u64 since)
{
	struct account_thread *waiter = bpf_map_lookup_elem(&account_thread, &tid);

	return waiter && waiter->state == ACCOUNT_RUNNABLE && waiter->wait_cpu == cpu && waiter->since == since;
}

static __always_inline void on_wakeup(struct task_struct *p)
{
	struct account_thread *thread;
	struct kdelay_gate *gate;
	u32 tid, nr;
	u64 now;

	if (p->tgid != kdelay_target_tgid)
		return;
	tid = p->pid;
	now = kdelay_clock_stamp(KDELAY_CLOCK_WAKEUP, tid, 0);
	thread = account_seen(tid);
	if (!thread) {
		/* First seen here: it was asleep, in the system call its registers name (or a page fault). */
		nr = entered_syscall(p, false);
		thread = account_first_seen(tid, ACCOUNT_BLOCKED, nr);
	}
	if (!thread)
		return;
	/* Woken while still on a CPU (or already waiting): nothing changes. */
	if (thread->state != ACCOUNT_BLOCKED && thread->state != ACCOUNT_STOPPED)
		return;
	gate = kdelay_gate_get();
	account_transition(thread, tid, ACCOUNT_RUNNABLE, now, gate);
	thread->wait_cpu = kdelay_task_cpu(p);
	kdelay_waiter_add(thread->wait_cpu, tid, now);
}

static __always_inline void switch_out(struct task_struct *prev, bool preempt, u64 now, const struct kdelay_gate *gate)
{
	u32 tid = prev->pid;
	long state = kdelay_task_state(prev);
	struct account_thread *thread = thread_on_cpu(tid, prev);
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

static __always_inline void switch_in(struct task_struct *next, u64 now, const struct kdelay_gate *gate)
{
	u32 tid = next->pid;
	struct account_thread *thread = account_seen(tid);
	u64 since;
	u32 nr;

	if (!thread) {
		/* First seen here: it was waiting for this CPU, in the system call its registers name. */
		nr = entered_syscall(next, false);
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

SEC("tp_btf/sched_switch")
int BPF_PROG(account_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	bool prev_is_target = prev->tgid == kdelay_target_tgid;
	bool next_is_target = next->tgid == kdelay_target_tgid;
	u32 cpu = bpf_get_smp_processor_id();
	struct kdelay_waiters *slot = bpf_map_lookup_elem(&waiters, &cpu);
	struct kdelay_gate *gate;
	u64 now;

	if (!prev_is_target && !next_is_target && (!slot || !slot->count))
		return 0;
	gate = kdelay_gate_get(); /* in any state: see account_transition() */
	now = kdelay_clock_stamp(KDELAY_CLOCK_SWITCH, prev->pid, next->pid);
	if (slot && slot->count)
		kdelay_charge_delayers(slot, cpu, prev, now, gate);
	if (slot)
		slot->last_switch_ns = now;
	/* Segments are tracked while the gate is closed too, so the window clips them. */
	if (prev_is_target)
		switch_out(prev, preempt, now, gate);
	if (next_is_target)
		switch_in(next, now, gate);
	return 0;
}

/* A target thread on the CPU without a context switch since kdelay looked (a busy thread). */
SEC("tp_btf/sched_stat_runtime")
int BPF_PROG(account_runtime, struct task_struct *p)
{
	u32 tid;

	if (p->tgid != kdelay_target_tgid)
		return 0;
	tid = p->pid;
	thread_on_cpu(tid, p);
	return 0;
}

/* Loaded only without the syscalls probe, whose programs do this otherwise (kdelay_account.bpf.h). */
SEC("tp_btf/sys_exit")
int BPF_PROG(account_sys_exit, struct pt_regs *regs, long ret)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();

	if ((u32)(pid_tgid >> 32) != kdelay_target_tgid)
		return 0;
	kdelay_account_sys_exit((u32)pid_tgid, regs, bpf_ktime_get_ns(), kdelay_gate_get());
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(account_sys_enter, struct pt_regs *regs, long id)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();

	if ((u32)(pid_tgid >> 32) != kdelay_target_tgid)
		return 0;
	kdelay_account_sys_enter((u32)pid_tgid, id, bpf_ktime_get_ns(), kdelay_gate_get());
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(account_wakeup, struct task_struct *p)
{
	on_wakeup(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(account_wakeup_new, struct task_struct *p)
{
	struct account_thread *thread;
	u32 tid, nr;
	u64 now;

	if (p->tgid != kdelay_target_tgid)
		return 0;
	tid = p->pid;
	now = kdelay_clock_stamp(KDELAY_CLOCK_WAKEUP, tid, 0);
	/*
	 * A new thread: its life begins here, waiting for its first CPU. It
	 * then finishes the clone() it was created by (a copy of its creator's
	 * entry registers: the call's number, with the child's return value).
	 */
	nr = entered_syscall(p, true);
	thread = account_first_seen(tid, ACCOUNT_RUNNABLE, nr);
	if (!thread)
		return 0;
	thread->since = now;
	thread->born_ns = now;
	thread->wait_cpu = kdelay_task_cpu(p);
	kdelay_waiter_add(thread->wait_cpu, tid, now);
	return 0;
}

static __always_inline void irq_enter(u32 which, u64 handler)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	struct irq_slot *slot;

	if ((u32)(pid_tgid >> 32) != kdelay_target_tgid)
		return;
	slot = bpf_map_lookup_elem(&irq_slots, &which);
	if (!slot)
		return;
	slot->entry_ns = bpf_ktime_get_ns();
	slot->nested_ns = 0;
	slot->handler = handler;
	slot->tid = (u32)pid_tgid;
}

/*
 * Ends the interrupt in this CPU's slot: its time in the window (less hard
 * IRQ time nested in a softirq) goes to state, and is carved out of the
 * on-CPU segment it interrupted.
 */
static __always_inline void irq_exit(u32 which, u64 handler, u32 state)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u32 tid = (u32)pid_tgid, soft = IRQ_SLOT_SOFT;
	struct account_thread *thread;
	struct kdelay_gate *gate;
	struct irq_slot *slot, *outer;
	u64 now, ns;

	if ((u32)(pid_tgid >> 32) != kdelay_target_tgid)
		return;
	slot = bpf_map_lookup_elem(&irq_slots, &which);
	if (!slot || !slot->entry_ns || slot->tid != tid || slot->handler != handler)
		return;
	now = bpf_ktime_get_ns();
	gate = kdelay_gate_get();
	ns = kdelay_in_window(gate, slot->entry_ns, now);
	slot->entry_ns = 0;
	/* Said again for older verifiers, which do not carry "ns > 0 means an open gate" through kdelay_in_window(). */
	if (!gate || gate->state != KDELAY_GATE_OPEN)
		return;
	if (which == IRQ_SLOT_HARD) {
		/* A hard interrupt inside a softirq of the same thread: the softirq's time excludes it. */
		outer = bpf_map_lookup_elem(&irq_slots, &soft);
		if (outer && outer->entry_ns && outer->tid == tid)
			outer->nested_ns += ns;
	} else {
		ns = ns > slot->nested_ns ? ns - slot->nested_ns : 0;
	}
	if (!ns)
		return;
	thread = account_seen(tid);
	if (!thread) {
		account_add(tid, state, ACCOUNT_NO_SYSCALL, 1, ns);
		return;
	}
	account_record_add(thread, tid, state, ACCOUNT_NO_SYSCALL, 1, ns, gate);
	thread->irq_ns += ns;
}

SEC("tp_btf/irq_handler_entry")
int BPF_PROG(account_hardirq_entry, int irq, struct irqaction *action)
{
	irq_enter(IRQ_SLOT_HARD, (u64)action);
	return 0;
}

SEC("tp_btf/irq_handler_exit")
int BPF_PROG(account_hardirq_exit, int irq, struct irqaction *action, int ret)
{
	irq_exit(IRQ_SLOT_HARD, (u64)action, ACCOUNT_HARDIRQ);
	return 0;
}

SEC("tp_btf/softirq_entry")
int BPF_PROG(account_softirq_entry, unsigned int vec_nr)
{
	irq_enter(IRQ_SLOT_SOFT, vec_nr);
	return 0;
}

SEC("tp_btf/softirq_exit")
int BPF_PROG(account_softirq_exit, unsigned int vec_nr)
{
	irq_exit(IRQ_SLOT_SOFT, vec_nr, ACCOUNT_SOFTIRQ);
	return 0;
}
