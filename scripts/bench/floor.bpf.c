// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * floor.bpf.c - what `npm run bench` measures kdelay's probes against:
 * the same hooks as the syscalls and sched probes, with empty bodies (the
 * cost of merely having a BPF program on the tracepoint), and a stack walk
 * alone on sys_exit (the floor of --syscall-events with stacks). Compiled
 * at bench time, never shipped; the bench attaches only the programs a
 * configuration names.
 */
#include "kdelay_core.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile u32 target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 4096);
	__type(key, u32);
	__uint(value_size, 127 * sizeof(u64));
} floor_stacks SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(floor_sys_enter)
{
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(floor_sys_exit)
{
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_sched_switch)
{
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(floor_sched_wakeup)
{
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(floor_sched_wakeup_new)
{
	return 0;
}

/*
 * sched and account also hook sched_stat_runtime (a thread that never
 * switches is found there), which fires several times per context switch.
 */
SEC("tp_btf/sched_stat_runtime")
int BPF_PROG(floor_sched_stat_runtime)
{
	return 0;
}

/*
 * The least any per-thread syscall duration costs: the target filter and a
 * clock read at both ends, with nothing stored.
 */
SEC("tp_btf/sys_enter")
int BPF_PROG(floor_clock_enter)
{
	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(floor_clock_exit)
{
	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	bpf_ktime_get_ns();
	return 0;
}

/* The two stack walks -s makes per event (kernel, then user), and nothing else. */
SEC("tp_btf/sys_exit")
int BPF_PROG(floor_stack_walk)
{
	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	bpf_get_stackid(ctx, &floor_stacks, 0);
	bpf_get_stackid(ctx, &floor_stacks, BPF_F_USER_STACK);
	return 0;
}
