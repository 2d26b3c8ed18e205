// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * __NAME__.bpf.c - the kernel half of the __NAME__ probe (scaffolded by
 * `npm run new-probe`; replace this statistic with yours).
 *
 * What it counts now: per thread of the target, how many times the thread
 * was woken up inside the window (sched_wakeup). See probes/README.md.
 */
#include "kdelay_core.bpf.h"
#include "kdelay_gate.bpf.h"
#include "kdelay_stats.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* One row per thread; __NAME__.ts gets its sizes from the BTF (build/__NAME__.layout.ts). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u32);
	__type(value, u64);
} __NAME___counts SEC(".maps");

/* tp_btf: typed arguments, cheaper than classic tracepoints. */
SEC("tp_btf/sched_wakeup")
int BPF_PROG(__NAME___wakeup, struct task_struct *p)
{
	u64 zero = 0, *count;
	u32 tid = p->pid;

	/* The woken thread is p, not the current one: filter on its tgid. */
	if (!kdelay_capturing_tgid(p->tgid))
		return 0;
	count = kdelay_lookup_or_init(&__NAME___counts, &tid, &zero);
	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}
