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
 *   window closes are clipped by the user half from the thread's state; threads
 *   that never switch at all are found at the scheduler tick.
 *
 * Every hook here fires for every task in the system: filter on the target's
 * tgid before any map work.
 */
#include "kdelay_core.bpf.h"
#include "kdelay_account.bpf.h" /* the account probe's work at the scheduler's events, done here with --verdict */
#include "kdelay_gate.bpf.h"
#include "kdelay_slots.bpf.h"
#include "kdelay_stats.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Each hook has two programs, of which the user half loads one: the plain
 * one, and the *_account one, which does the account probe's work there too
 * (kdelay_account.bpf.h, on its maps, shared into this object), loaded when
 * the account probe is (instead of it attaching four more programs on these
 * hooks). The account's code is never in the plain ones: a run without it
 * neither relocates nor verifies it (~12 ms of this object's load).
 * with_account below is a constant in each program.
 */

/*
 * What each target thread is doing now. sched.ts reads it through
 * build/sched.layout.ts, generated from the BTF.
 */
struct thread_state {
	u64 in_ns;         /* start of the stretch on the CPU now (0: not on it, or its start was not seen) */
	u64 out_ns;        /* last switch-out */
	u64 ready_since;   /* became runnable, waiting for a CPU (0: not waiting) */
	u64 stopped_since; /* switched out stopped (0: not stopped) */
};

/*
 * Every switch of a target thread touches two threads' records and two
 * statistics, every wake-up one record: with hash maps that was ten
 * helper calls that hash their key per pingpong round trip, most of this
 * probe's cost above the empty-program floor. So a thread owns a slot of
 * state_slots (kdelay_slots.bpf.h) when it is the first to claim it: its
 * state and its statistics in one array element, which the verifier's
 * inlined array lookup finds. A slot is kept for the run (a thread's tid
 * picks it again after a restart); a thread whose slot another owns uses
 * the hash maps below. Slot statistics belong to the window that began at
 * `window`: the first interval recorded in a new window zeroes them, so
 * the user half never writes to a slot the kernel is updating.
 */
struct state_slot {
	struct thread_state state;
	u32 tid; /* the owner; 0: free */
	u32 pad;
	u64 window; /* window_start_ns of the window the statistics below belong to */
	struct kdelay_stat run;
	struct kdelay_stat partial_run;
	struct kdelay_stat ready;
	struct kdelay_stat stopped;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KDELAY_SLOTS);
	__type(key, u32);
	__type(value, struct state_slot);
} state_slots SEC(".maps");

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
 * Tagged with its window: between the user half's reset and the gate's
 * return to IDLE the gate still says REPORTING, and a tail clipped then
 * belongs to the window already reported, not to the next one.
 */
struct tail {
	u64 window; /* window_start_ns of the window it ends */
	u64 ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u32);
	__type(value, struct tail);
} tail_clip SEC(".maps");

/* Target threads that exited, with their last name (kdelay_records.bpf.h); shared with the host. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KDELAY_EXITED_THREADS);
	__type(key, u32);
	__type(value, struct kdelay_exited_thread);
} kdelay_exited_threads SEC(".maps");

STATS_MAP(run_stats);
STATS_MAP(partial_run_stats);
STATS_MAP(ready_stats);
STATS_MAP(stopped_stats);

enum stat_kind { RUN, PARTIAL_RUN, READY, STOPPED };

/* A target thread: its state, and its slot if it owns one (else its records are in the hash maps). */
struct thread {
	struct thread_state *state;
	struct state_slot *slot;
	u32 tid;
};

/*
 * Finds tid's records, creating them zeroed on first sight (*fresh set).
 * False if there are none and none could be made (counted).
 */
static __always_inline bool thread_of(u32 tid, struct thread *t, bool *fresh)
{
	u32 index = kdelay_slot_index(tid);
	struct state_slot *slot = bpf_map_lookup_elem(&state_slots, &index);
	struct thread_state zero = {};

	t->tid = tid;
	t->slot = NULL;
	if (slot && slot->tid == tid)
		goto own;
	if (slot && !slot->tid) {
		if (kdelay_slot_claim(index, &slot->tid, tid)) {
			*fresh = true;
			goto own;
		}
		/* Lost the claim: to this same thread on another CPU (a wake-up racing a switch), or to another. */
		if (kdelay_slot_claimed_for(index, tid))
			goto own;
	}
	t->state = bpf_map_lookup_elem(&thread_state, &tid);
	if (t->state)
		return true;
	*fresh = true;
	t->state = kdelay_lookup_or_init(&thread_state, &tid, &zero);
	return t->state != NULL;
own:
	t->slot = slot;
	t->state = &slot->state;
	return true;
}

static __always_inline void *stats_map(enum stat_kind kind)
{
	switch (kind) {
	case RUN:
		return &run_stats;
	case PARTIAL_RUN:
		return &partial_run_stats;
	case READY:
		return &ready_stats;
	default:
		return &stopped_stats;
	}
}

/* Adds one interval of the open window (gate) to the thread's statistics of that kind. */
static __always_inline void record(struct thread *t, enum stat_kind kind, u64 delta_ns, struct kdelay_gate *gate)
{
	struct state_slot *slot = t->slot;

	if (!slot) {
		kdelay_stat_record(stats_map(kind), &t->tid, delta_ns);
		return;
	}
	if (slot->window != gate->window_start_ns) {
		__builtin_memset(&slot->run, 0, 4 * sizeof(struct kdelay_stat));
		slot->window = gate->window_start_ns;
	}
	switch (kind) {
	case RUN:
		kdelay_stat_add(&slot->run, delta_ns);
		break;
	case PARTIAL_RUN:
		kdelay_stat_add(&slot->partial_run, delta_ns);
		break;
	case READY:
		kdelay_stat_add(&slot->ready, delta_ns);
		break;
	default:
		kdelay_stat_add(&slot->stopped, delta_ns);
	}
}

/* Ends the interval that began at *since, recording it if it began inside the open window. */
static __always_inline void end_interval(u64 *since, struct thread *t, enum stat_kind kind, u64 now,
                                         struct kdelay_gate *gate)
{
	if (!*since)
		return;
	/* now < *since only if two CPUs' clocks disagree: an empty interval, not a wrapped one. */
	if (gate && gate->state == KDELAY_GATE_OPEN && *since >= gate->window_start_ns)
		record(t, kind, now > *since ? now - *since : 0, gate);
	*since = 0;
}

/* A target thread was woken: its stop (if any) ends and a run-queue wait begins. */
static __always_inline void on_wakeup(struct task_struct *p, bool new_thread, bool with_account)
{
	struct kdelay_gate *gate;
	struct thread t;
	bool fresh = false;
	u64 now;

	if (p->tgid != kdelay_target_tgid)
		return;
	now = bpf_ktime_get_ns();
	gate = kdelay_gate_get();
	if (with_account) {
		if (new_thread)
			kdelay_account_wakeup_new(p, now);
		else
			kdelay_account_wakeup(p, now, gate);
	}
	if (!thread_of(p->pid, &t, &fresh))
		return;
	end_interval(&t.state->stopped_since, &t, STOPPED, now, gate);
	/*
	 * sched_wakeup also fires for a task that is still on a CPU (woken
	 * before it got off it, or already running): it is not waiting. If it
	 * is about to switch out, switch_out() sees TASK_RUNNING and starts
	 * the wait there.
	 */
	if (t.state->in_ns)
		return;
	t.state->ready_since = now;
}

/*
 * Records a stretch [in_ns, now) of the thread against the window, if it
 * overlaps it. `now` was read before the gate, and another CPU may open or
 * close the gate in between: a stretch that ended before the window's start
 * is not in it (now - start would wrap), and one seen ending after a stop
 * time already written is cut there. So no stretch exceeds its window.
 */
static __always_inline void record_run(struct thread *t, u64 in_ns, u64 now, struct kdelay_gate *gate)
{
	u64 start = gate->window_start_ns;
	u64 stop = gate->window_stop_ns;
	u64 from = in_ns > start ? in_ns : start;

	if (gate->state == KDELAY_GATE_OPEN) {
		if (stop && now > stop)
			now = stop;
		if (now <= from)
			return;
		record(t, in_ns >= start ? RUN : PARTIAL_RUN, now - from, gate);
	} else if (gate->state == KDELAY_GATE_REPORTING && from < stop) {
		/*
		 * On the CPU when the window closed, off it before the user half
		 * looked: clip here, or the tail would be lost. The user half
		 * counts each tail once, from here or from the thread's state.
		 * Only between a window's close and its report: rare enough for a hash.
		 */
		struct tail tail = { .window = start, .ns = stop - from };

		if (bpf_map_update_elem(&tail_clip, &t->tid, &tail, BPF_ANY))
			kdelay_count_map_full();
	}
}

/* Keeps the name a target thread exited with, for the report (/proc forgets it now). */
static __always_inline void remember_exit(struct task_struct *task, u32 tid, u64 now)
{
	struct kdelay_exited_thread exited = { .exit_ns = now };

	BPF_CORE_READ_STR_INTO(&exited.comm, task, comm);
	if (bpf_map_update_elem(&kdelay_exited_threads, &tid, &exited, BPF_ANY))
		kdelay_count_map_full();
}

/* gate: the shared gate in any state, or NULL. */
static __always_inline void switch_out(struct task_struct *prev, bool preempt, u64 now, struct kdelay_gate *gate)
{
	u32 tid = prev->pid;
	long state = kdelay_task_state(prev);
	struct thread t;
	bool fresh = false;

	if (state & TASK_DEAD) {
		/*
		 * Its last switch-out: forget what it was doing (a thread that
		 * reuses its tid starts afresh). A slot keeps its owner and this
		 * window's statistics; a hash record goes, so the map does not
		 * fill up with the dead.
		 */
		u32 index = kdelay_slot_index(tid);
		struct state_slot *slot = bpf_map_lookup_elem(&state_slots, &index);

		t.tid = tid;
		t.slot = slot && slot->tid == tid ? slot : NULL;
		t.state = t.slot ? &slot->state : bpf_map_lookup_elem(&thread_state, &tid);
		/* Its last stretch on the CPU ends here, and it was a run like any other. */
		if (t.state && t.state->in_ns && gate)
			record_run(&t, t.state->in_ns, now, gate);
		if (t.slot)
			__builtin_memset(&slot->state, 0, sizeof(slot->state));
		else if (t.state)
			bpf_map_delete_elem(&thread_state, &tid);
		remember_exit(prev, tid, now);
		return;
	}
	if (!thread_of(tid, &t, &fresh))
		return;
	/*
	 * A stretch counts only if its start was seen since the last
	 * switch-out: a switch-in, or in_ns = 1 from sched_stat_runtime. Every
	 * switch-out clears it, so when the next switch-in is missed (it
	 * happens under load) the switch-out after it finds none instead of
	 * counting the time off the CPU as a run, and the thread does not pass
	 * for running meanwhile (on_wakeup(), the user half's tail clipping).
	 */
	if (t.state->in_ns && gate)
		record_run(&t, t.state->in_ns, now, gate);
	t.state->in_ns = 0;
	t.state->out_ns = now;
	/*
	 * Still on the run queue (preempted, or woken before it got off the
	 * CPU): it now waits. Otherwise it waits for nothing: a wait whose end
	 * (a switch-in) was missed is over, since the thread just ran.
	 */
	t.state->ready_since = preempt || state == TASK_RUNNING ? now : 0;
	if (!t.state->ready_since && (state & __TASK_STOPPED))
		t.state->stopped_since = now;
}

static __always_inline void switch_in(struct task_struct *next, u64 now, struct kdelay_gate *gate)
{
	struct thread t;
	bool fresh = false;

	if (!thread_of(next->pid, &t, &fresh))
		return;
	end_interval(&t.state->ready_since, &t, READY, now, gate);
	t.state->in_ns = now;
}

static __always_inline void on_switch(bool preempt, struct task_struct *prev, struct task_struct *next,
                                      bool with_account)
{
	bool prev_is_target = prev->tgid == kdelay_target_tgid;
	bool next_is_target = next->tgid == kdelay_target_tgid;
	struct kdelay_waiters *waiting = NULL;
	struct kdelay_gate *gate;
	u32 cpu = 0;
	u64 now;

	/* The account also looks at a switch of other tasks on a CPU where target threads wait (who delayed them). */
	if (with_account) {
		cpu = bpf_get_smp_processor_id();
		waiting = kdelay_account_waiters(cpu);
	}
	if (!prev_is_target && !next_is_target && !kdelay_account_waiting(waiting))
		return;
	gate = kdelay_gate_get(); /* in any state: see record_run() and end_interval() */
	now = bpf_ktime_get_ns();
	if (with_account)
		kdelay_account_switch(preempt, prev, next, prev_is_target, next_is_target, cpu, waiting, now, gate);
	/*
	 * Stamps are kept even while the gate is closed, so that stretches and
	 * waits already under way when the window opens can be recognised (and,
	 * for RUN, clipped) instead of being mistaken for ones that began inside.
	 */
	if (prev_is_target)
		switch_out(prev, preempt, now, gate);
	if (next_is_target)
		switch_in(next, now, gate);
}

/*
 * A thread that never leaves the CPU (a busy-polling PMD thread) never
 * passes through sched_switch, so nothing above would ever see it. The
 * scheduler accounts the running task's runtime at every tick: the first
 * time a target thread shows up here without a record, it has been on the
 * CPU since before we looked. in_ns = 1 ("since the beginning") makes the
 * window clipping count it from the window's start.
 */
static __always_inline void on_runtime(struct task_struct *p, bool with_account)
{
	struct thread t;
	bool fresh = false;

	if (p->tgid != kdelay_target_tgid)
		return;
	if (with_account)
		kdelay_account_runtime(p);
	if (thread_of(p->pid, &t, &fresh) && fresh)
		t.state->in_ns = 1;
}

/* The programs, plain and with the account's work (see the top), in the order they attach. */
#define SCHED_PROGRAMS(suffix, with_account)                                                                 \
	SEC("tp_btf/sched_wakeup")                                                                           \
	int BPF_PROG(sched_wakeup##suffix, struct task_struct *p)                                            \
	{                                                                                                    \
		on_wakeup(p, false, with_account);                                                           \
		return 0;                                                                                    \
	}                                                                                                    \
	SEC("tp_btf/sched_wakeup_new")                                                                       \
	int BPF_PROG(sched_wakeup_new##suffix, struct task_struct *p)                                        \
	{                                                                                                    \
		on_wakeup(p, true, with_account);                                                            \
		return 0;                                                                                    \
	}                                                                                                    \
	SEC("tp_btf/sched_switch")                                                                           \
	int BPF_PROG(sched_switch##suffix, bool preempt, struct task_struct *prev, struct task_struct *next) \
	{                                                                                                    \
		on_switch(preempt, prev, next, with_account);                                                \
		return 0;                                                                                    \
	}                                                                                                    \
	SEC("tp_btf/sched_stat_runtime")                                                                     \
	int BPF_PROG(sched_stat_runtime##suffix, struct task_struct *p)                                      \
	{                                                                                                    \
		on_runtime(p, with_account);                                                                 \
		return 0;                                                                                    \
	}

SCHED_PROGRAMS(, false)
SCHED_PROGRAMS(_account, true)
