// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * wasm-bpf-getppid.bpf.c - the kernel half of a plain wasm-bpf guest: every
 * getppid() call of one process is counted and posted to a ring buffer as
 * {tid, syscall number, timestamp}.
 *
 * Nothing here is specific to kdelay: the user half configures it through
 * the standard wasm_bpf imports only (the target tgid goes into the `config`
 * array map, since a plain wasm-bpf guest cannot set .rodata before load).
 * x86-64 only (the syscall number below).
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define GETPPID_NR 110 /* x86-64 */

/* Keep in sync with struct Event in wasm-bpf-getppid.ts. */
struct event {
	__u32 tid;
	__u32 syscall_nr;
	__u64 timestamp_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
};

/* Key 0: the tgid to watch (0: none). Written by the user half before attach. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} config SEC(".maps");

enum { COUNT_CALLS = 0, COUNT_RING_FULL = 1, COUNT_SLOTS };

/* Calls seen, and events lost because the ring was full. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, COUNT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

static __always_inline void count(__u32 slot)
{
	__u64 *value = bpf_map_lookup_elem(&counts, &slot);

	if (value)
		__sync_fetch_and_add(value, 1);
}

/* tp_btf rather than a classic tracepoint: cheaper per call, and it detaches in ~1 ms. */
SEC("tp_btf/sys_enter")
int BPF_PROG(getppid_sys_enter, struct pt_regs *regs, long id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 key = 0, *target = bpf_map_lookup_elem(&config, &key);
	struct event *event;

	if (!target || *target == 0 || *target != (__u32)(pid_tgid >> 32) || id != GETPPID_NR)
		return 0;
	/* Counted first, so the total is never behind the events a reader has seen. */
	count(COUNT_CALLS);
	event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event) {
		count(COUNT_RING_FULL);
		return 0;
	}
	event->tid = (__u32)pid_tgid;
	event->syscall_nr = (__u32)id;
	event->timestamp_ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(event, 0);
	return 0;
}
