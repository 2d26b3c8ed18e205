// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sched.bpf.c - where a thread's time went, scheduler-wise.
 *
 * THREAD RUN: on-CPU stretches (switched in, then out) inside the window.
 * THREAD READY: run-queue waits, from a wake-up or from being switched out
 *   while still runnable (preempted), until switched in again. Unlike the
 *   reference, a preemption starts the wait of the thread switched OUT.
 * THREAD STOPPED: switched out stopped (SIGSTOP) until woken again.
 * THREAD PARTIAL RUN: stretches that cross an edge of the window, clipped to
 *   it; the reference drops them, so a thread busy the whole window (a PMD
 *   thread) showed no run time at all. Stretches still running when the
 *   window closes are clipped by the user half from thread_state; threads
 *   that never switch at all are found at the scheduler tick.
 *
 * Every hook here fires for every task in the system: filter on the target's
 * tgid before any map work.
 */
#include "kdelay_core.bpf.h"
#include "kdelay_gate.bpf.h"
#include "kdelay_stats.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TASK_RUNNING   0
#define __TASK_STOPPED 0x4
#define TASK_DEAD      0x80

/*
 * What each target thread is doing now, in one record so that every event
 * costs one lookup. sched.ts reads it through build/sched.layout.ts,
 * generated from the BTF.
 */
struct thread_state {
	u64 in_ns;         /* last switch-in */
	u64 out_ns;        /* last switch-out */
	u64 ready_since;   /* became runnable, waiting for a CPU (0: not waiting) */
	u64 stopped_since; /* switched out stopped (0: not stopped) */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u32);
	__type(value, struct thread_state);
} thread_state SEC(".maps");

#define STATS_MAP(name)                            \
	struct {                                   \
		__uint(type, BPF_MAP_TYPE_HASH);   \
		__uint(max_entries, 16384);        \
		__type(key, u32);                  \
		__type(value, struct kdelay_stat); \
	} name SEC(".maps")

/*
 * The end of a window-closing stretch, clipped by the kernel because the
 * thread left the CPU before the user half looked (see record_run()).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u32);
	__type(value, u64);
} tail_clip SEC(".maps");

STATS_MAP(run_stats);
STATS_MAP(partial_run_stats);
STATS_MAP(ready_stats);
STATS_MAP(stopped_stats);

/* The thread's record, created zeroed on first sight; NULL (and counted) if the map is full. */
static __always_inline struct thread_state *state_of(u32 tid)
{
	struct thread_state zero = {};

	return kdelay_lookup_or_init(&thread_state, &tid, &zero);
}

/* Ends the interval that began at *since, recording it if it began inside the open window. */
static __always_inline void end_interval(u64 *since, void *stats_map, u32 tid, u64 now, struct kdelay_gate *gate)
{
	if (!*since)
		return;
	if (gate && gate->state == KDELAY_GATE_OPEN && *since >= gate->window_start_ns)
		kdelay_stat_record(stats_map, &tid, now - *since);
	*since = 0;
}

/* A target thread was woken: its stop (if any) ends and a run-queue wait begins. */
static __always_inline void on_wakeup(struct task_struct *p)
{
	struct thread_state *thread;
	u32 tid;
	u64 now;

	if (BPF_CORE_READ(p, tgid) != kdelay_target_tgid)
		return;
	tid = BPF_CORE_READ(p, pid);
	thread = state_of(tid);
	if (!thread)
		return;
	now = bpf_ktime_get_ns();
	end_interval(&thread->stopped_since, &stopped_stats, tid, now, kdelay_gate_get());
	/*
	 * sched_wakeup also fires for a task that is still on a CPU (woken
	 * before it got off it, or already running): it is not waiting. If it
	 * is about to switch out, switch_out() sees TASK_RUNNING and starts
	 * the wait there.
	 */
	if (thread->in_ns > thread->out_ns)
		return;
	thread->ready_since = now;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup, struct task_struct *p)
{
	on_wakeup(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new, struct task_struct *p)
{
	on_wakeup(p);
	return 0;
}

/* Records a stretch [in_ns, now) of tid against the window, if it overlaps it. */
static __always_inline void record_run(u32 tid, u64 in_ns, u64 now, struct kdelay_gate *gate)
{
	u64 start = gate->window_start_ns;

	if (gate->state == KDELAY_GATE_OPEN) {
		if (in_ns >= start)
			kdelay_stat_record(&run_stats, &tid, now - in_ns);
		else
			kdelay_stat_record(&partial_run_stats, &tid, now - start);
	} else if (gate->state == KDELAY_GATE_REPORTING && in_ns < gate->window_stop_ns) {
		/*
		 * On the CPU when the window closed, off it before the user half
		 * looked: clip here, or the tail would be lost. The user half
		 * counts each tail once, from here or from thread_state.
		 */
		u64 tail = gate->window_stop_ns - (in_ns > start ? in_ns : start);

		if (bpf_map_update_elem(&tail_clip, &tid, &tail, BPF_ANY))
			kdelay_count_map_full();
	}
}

/* gate: the shared gate in any state, or NULL. */
static __always_inline void switch_out(struct task_struct *prev, bool preempt, u64 now, struct kdelay_gate *gate)
{
	u32 tid = BPF_CORE_READ(prev, pid);
	long state = kdelay_task_state(prev);
	struct thread_state *thread;

	if (state & TASK_DEAD) {
		/* Its last switch-out: forget the thread so the map does not fill up with the dead. */
		bpf_map_delete_elem(&thread_state, &tid);
		return;
	}
	thread = state_of(tid);
	if (!thread)
		return;
	if (thread->in_ns && gate)
		record_run(tid, thread->in_ns, now, gate);
	thread->out_ns = now;
	/* Still on the run queue (preempted, or woken before it got off the CPU): it now waits. */
	if (preempt || state == TASK_RUNNING)
		thread->ready_since = now;
	else if (state & __TASK_STOPPED)
		thread->stopped_since = now;
}

static __always_inline void switch_in(struct task_struct *next, u64 now, struct kdelay_gate *gate)
{
	u32 tid = BPF_CORE_READ(next, pid);
	struct thread_state *thread = state_of(tid);

	if (!thread)
		return;
	end_interval(&thread->ready_since, &ready_stats, tid, now, gate);
	thread->in_ns = now;
}

/*
 * A thread that never leaves the CPU (a busy-polling PMD thread) never
 * passes through sched_switch, so nothing above would ever see it. The
 * scheduler accounts the running task's runtime at every tick: the first
 * time a target thread shows up here without a record, it has been on the
 * CPU since before we looked. in_ns = 1 ("since the beginning") makes the
 * window clipping count it from the window's start.
 */
SEC("tp_btf/sched_stat_runtime")
int BPF_PROG(sched_stat_runtime, struct task_struct *p)
{
	struct thread_state first_seen = { .in_ns = 1 };
	u32 tid;

	if (BPF_CORE_READ(p, tgid) != kdelay_target_tgid)
		return 0;
	tid = BPF_CORE_READ(p, pid);
	if (!bpf_map_lookup_elem(&thread_state, &tid))
		bpf_map_update_elem(&thread_state, &tid, &first_seen, BPF_NOEXIST);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	bool prev_is_target = BPF_CORE_READ(prev, tgid) == kdelay_target_tgid;
	bool next_is_target = BPF_CORE_READ(next, tgid) == kdelay_target_tgid;
	struct kdelay_gate *gate;
	u64 now;

	if (!prev_is_target && !next_is_target)
		return 0;
	gate = kdelay_gate_get(); /* in any state: see record_run() and end_interval() */
	now = bpf_ktime_get_ns();
	/*
	 * Stamps are kept even while the gate is closed, so that stretches and
	 * waits already under way when the window opens can be recognised (and,
	 * for RUN, clipped) instead of being mistaken for ones that began inside.
	 */
	if (prev_is_target)
		switch_out(prev, preempt, now, gate);
	if (next_is_target)
		switch_in(next, now, gate);
	return 0;
}
