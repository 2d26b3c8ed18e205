// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * upcall.bpf.c - UPCALL STATISTICS: what the Open vSwitch kernel datapath's
 * ovs_dp_upcall() returned (0, or -errno when an upcall to ovs-vswitchd
 * failed, e.g. its socket buffer was full), per CPU, for the whole system
 * while the window is open. Upcalls run in softirq context on behalf of any
 * packet, so there is no per-thread filter here.
 *
 * A kretprobe where the kernel has kprobes, fexit otherwise; the user half
 * enables the one the host chose.
 */
#include "kdelay_core.bpf.h"
#include "kdelay_gate.bpf.h"
#include "kdelay_stats.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* upcall.ts reads it through build/upcall.layout.ts, generated from the BTF. */
struct upcall_key {
	u32 cpu;
	s32 ret;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct upcall_key);
	__type(value, u64);
} upcall_results SEC(".maps");

static __always_inline void count(int ret)
{
	struct kdelay_gate *gate = kdelay_gate_get();
	struct upcall_key key = { .cpu = bpf_get_smp_processor_id(), .ret = ret };
	u64 one = 1, *n;

	if (!gate || gate->state != KDELAY_GATE_OPEN)
		return;
	n = bpf_map_lookup_elem(&upcall_results, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	else if (bpf_map_update_elem(&upcall_results, &key, &one, BPF_NOEXIST))
		kdelay_count_map_full();
}

SEC("kretprobe/ovs_dp_upcall")
int BPF_KRETPROBE(upcall_kretprobe, int ret)
{
	count(ret);
	return 0;
}

/* int ovs_dp_upcall(struct datapath *, struct sk_buff *, const struct sw_flow_key *,
 *                   const struct dp_upcall_info *, uint32_t cutlen) */
SEC("fexit/ovs_dp_upcall")
int BPF_PROG(upcall_fexit, void *dp, void *skb, void *key, void *info, u32 cutlen, int ret)
{
	count(ret);
	return 0;
}
