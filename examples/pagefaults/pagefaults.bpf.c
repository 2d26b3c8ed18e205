// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pagefaults.bpf.c - an example third-party kdelay probe: per-thread user
 * page faults inside the window, and how many of them were writes.
 *
 * Built from its own folder into one bundle and loaded with
 * `kdelay --probe pagefaults.wasm --allow-unsigned`; kdelay itself knows
 * nothing about it. x86-64: the exceptions:page_fault_user tracepoint.
 */
#include "kdelay_core.bpf.h"
#include "kdelay_gate.bpf.h"
#include "kdelay_stats.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define X86_PF_WRITE 0x2

/* pagefaults.ts reads it through build/pagefaults.layout.ts, generated from the BTF. */
struct fault_counts {
	u64 faults;
	u64 writes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u32);
	__type(value, struct fault_counts);
} fault_counts SEC(".maps");

SEC("tp_btf/page_fault_user")
int BPF_PROG(pagefaults_user, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	struct fault_counts zero = {}, *counts;
	u32 tid = (u32)pid_tgid;

	if (!kdelay_capturing(pid_tgid))
		return 0;
	counts = kdelay_lookup_or_init(&fault_counts, &tid, &zero);
	if (!counts)
		return 0;
	counts->faults++;
	if (error_code & X86_PF_WRITE)
		counts->writes++;
	return 0;
}
