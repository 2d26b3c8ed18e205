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
#include "kdelay_account.bpf.h" /* the thread record, its maps and what each event does to it */
#include "kdelay_gate.bpf.h"
#include "kdelay_records.bpf.h"
#include "kdelay_stats.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * The programs attach in the order they are defined below (the user half's
 * attachAll()): context switches first, since a wake-up seen before them
 * would leave its thread waiting through a switch-in not seen; system call
 * exits before entries; then wake-ups and interrupts. Each program but the
 * interrupts' loads only when the probe whose programs share its hook is
 * not loaded: sched's and syscalls' programs do the account's work at
 * their hooks then (kdelay_account.bpf.h), a program invocation being
 * dearer than that work.
 */

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

SEC("tp_btf/sched_switch")
int BPF_PROG(account_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	bool prev_is_target = prev->tgid == kdelay_target_tgid;
	bool next_is_target = next->tgid == kdelay_target_tgid;
	u32 cpu = bpf_get_smp_processor_id();
	struct kdelay_waiters *slot = kdelay_account_waiters(cpu);

	if (!prev_is_target && !next_is_target && !kdelay_account_waiting(slot))
		return 0;
	kdelay_account_switch(preempt, prev, next, prev_is_target, next_is_target, cpu, slot, bpf_ktime_get_ns(),
	                      kdelay_gate_get());
	return 0;
}

SEC("tp_btf/sched_stat_runtime")
int BPF_PROG(account_runtime, struct task_struct *p)
{
	if (p->tgid == kdelay_target_tgid)
		kdelay_account_runtime(p);
	return 0;
}

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
	if (p->tgid == kdelay_target_tgid)
		kdelay_account_wakeup(p, bpf_ktime_get_ns(), kdelay_gate_get());
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(account_wakeup_new, struct task_struct *p)
{
	if (p->tgid == kdelay_target_tgid)
		kdelay_account_wakeup_new(p, bpf_ktime_get_ns());
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
