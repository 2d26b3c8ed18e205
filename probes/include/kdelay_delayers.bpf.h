/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * kdelay_delayers.bpf.h - who ran on a CPU while target threads waited for it.
 *
 * While a target thread waits on a CPU's run queue, that CPU's waiters[]
 * slot lists it (kdelay_waiter_add() when it starts waiting,
 * kdelay_waiter_remove() when it is switched in). Every context switch on
 * such a CPU charges the task switched out (whoever it is) with the part of
 * its run that overlapped each wait, in the window: delayers[waiter,
 * culprit] (kdelay_charge_delayers()). All changes to a CPU's slot happen
 * under that CPU's run-queue lock (sched_switch, and sched_wakeup, which the
 * kernel fires with the wakee's run queue locked), so plain writes are safe.
 *
 * The includer defines KDELAY_WAITERS_PER_CPU (waiting threads tracked per
 * run queue) before including this, and kdelay_still_waiting(), which says
 * whether a listed thread still waits there; the user half sizes waiters to
 * the possible CPUs and reads delayers.
 */
#ifndef KDELAY_DELAYERS_BPF_H
#define KDELAY_DELAYERS_BPF_H

#include "kdelay_core.bpf.h"
#include "kdelay_gate.bpf.h"
#include "kdelay_stats.bpf.h"

#ifndef KDELAY_WAITERS_PER_CPU
#error "define KDELAY_WAITERS_PER_CPU before including kdelay_delayers.bpf.h"
#endif

struct kdelay_waiters {
	u64 last_switch_ns; /* when the task now on this CPU was switched in (0: unknown) */
	u32 count;
	u32 pad;
	u32 tids[KDELAY_WAITERS_PER_CPU];
	u64 since[KDELAY_WAITERS_PER_CPU];
};

struct delayer_key {
	u32 tid;     /* the waiting target thread */
	u32 culprit; /* the thread (any process) that ran on its CPU meanwhile */
};

struct delayer_value {
	u64 count;    /* stretches of the culprit that overlapped a wait */
	u64 total_ns; /* their overlap */
	char comm[16];
};

/* One slot per possible CPU; the user half sizes it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct kdelay_waiters);
} waiters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct delayer_key);
	__type(value, struct delayer_value);
} delayers SEC(".maps");

/*
 * Defined by the includer: whether tid, listed on cpu's run queue since
 * `since`, still waits there since that moment (an entry whose removal
 * raced with a migration, or that was listed twice, does not).
 */
static __always_inline bool kdelay_still_waiting(u32 tid, u32 cpu, u64 since);

/* The CPU whose run queue a woken task was put on (task_cpu()), on kernels before and after 5.16. */
struct thread_info___cpu {
	u32 cpu;
};
struct task_struct___cpu {
	struct thread_info___cpu thread_info;
	unsigned int cpu;
};

/* p: a tp_btf argument, read with plain loads (KDELAY_BTF_READS in kdelay_core.bpf.h). */
static __always_inline u32 kdelay_task_cpu(struct task_struct *p)
{
	struct task_struct___cpu *t = (void *)p;

	if (bpf_core_field_exists(t->thread_info.cpu))
		return t->thread_info.cpu;
	return t->cpu;
}

static __always_inline void kdelay_waiter_add(u32 cpu, u32 tid, u64 now)
{
	struct kdelay_waiters *slot = bpf_map_lookup_elem(&waiters, &cpu);
	u32 n;

	if (!slot)
		return;
	n = slot->count;
	if (n >= KDELAY_WAITERS_PER_CPU)
		return; /* more waiters than tracked: the extra ones name no delayer */
	slot->tids[n] = tid;
	slot->since[n] = now;
	slot->count = n + 1;
}

static __always_inline void kdelay_waiter_remove(u32 cpu, u32 tid)
{
	struct kdelay_waiters *slot = bpf_map_lookup_elem(&waiters, &cpu);
	u32 n, i;

	if (!slot)
		return;
	n = slot->count;
	for (i = 0; i < KDELAY_WAITERS_PER_CPU; i++) {
		if (i >= n)
			return;
		if (slot->tids[i] != tid)
			continue;
		/* Move the last one into the hole. */
		if (n - 1 < KDELAY_WAITERS_PER_CPU) {
			slot->tids[i] = slot->tids[n - 1];
			slot->since[i] = slot->since[n - 1];
		}
		slot->count = n - 1;
		return;
	}
}

/*
 * prev is leaving this CPU at now: charge its run to each target thread
 * waiting on this CPU, for the part that overlapped the wait. An entry whose
 * thread is no longer waiting here since that moment is dropped, not charged.
 */
static __always_inline void kdelay_charge_delayers(struct kdelay_waiters *slot, u32 cpu, struct task_struct *prev,
                                                   u64 now, const struct kdelay_gate *gate)
{
	u32 culprit = prev->pid;
	u32 n = slot->count, kept = 0, i;

	for (i = 0; i < KDELAY_WAITERS_PER_CPU; i++) {
		struct delayer_key key;
		struct delayer_value zero = {}, *value;
		u32 tid;
		u64 from, ns, since;

		if (i >= n)
			break;
		tid = slot->tids[i];
		since = slot->since[i];
		if (!kdelay_still_waiting(tid, cpu, since))
			continue;
		if (kept < KDELAY_WAITERS_PER_CPU) {
			slot->tids[kept] = tid;
			slot->since[kept] = since;
			kept++;
		}
		from = since > slot->last_switch_ns ? since : slot->last_switch_ns;
		ns = kdelay_in_window(gate, from, now);
		if (!ns || tid == culprit)
			continue;
		key.tid = tid;
		key.culprit = culprit;
		value = kdelay_lookup_or_init(&delayers, &key, &zero);
		if (!value)
			continue;
		if (!value->count)
			BPF_CORE_READ_STR_INTO(&value->comm, prev, comm);
		value->count++;
		value->total_ns += ns;
	}
	slot->count = kept;
}

#endif /* KDELAY_DELAYERS_BPF_H */
