// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * syscalls.bpf.c - per-thread system call statistics and long-poll intervals.
 *
 * SYSCALL STATISTICS: for each thread of the target and each syscall number,
 * the count, total and maximum duration of calls that entered and exited
 * inside the capture window.
 *
 * LONG POLL STATISTICS: the time a thread spends between returning from
 * poll() and entering poll() again, i.e. the "poll interval" that
 * ovs-vswitchd warns about when it is unreasonably long. An interval
 * counts when both its ends lie inside the window, also when the poll()
 * it begins with was entered before (an idle thread sits in poll()).
 *
 * SYSCALL EVENTS (-s): calls longer than a threshold are posted to the host's
 * ring with their stacks; with stacks, also the kernel stack where the call
 * blocked longest (syscalls_switch, loaded only then).
 *
 * A thread's records (its slot, or its hash stamp) are freed when it exits
 * (sched_process_exit), so a target that keeps creating threads never
 * fills the maps with the dead.
 *
 * tp_btf programs are used rather than classic tracepoints: they are cheaper
 * per event, and their links detach in ~1 ms instead of 60-110 ms.
 */
#include "kdelay_core.bpf.h"
#include "kdelay_account.bpf.h" /* the account probe's work at a system call's ends, done here with --verdict */
#include "kdelay_gate.bpf.h"
#include "kdelay_slots.bpf.h"
#include "kdelay_stats.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * sys_enter and sys_exit have two programs each, of which the user half
 * loads one: the plain one, and the *_account one, which does the account
 * probe's work there too (kdelay_account.bpf.h, on its maps, shared into
 * this object), loaded when the account probe is (instead of it attaching
 * two more programs on these hooks). A run without it neither relocates
 * nor verifies the account's code. with_account is a constant in each.
 */

/* The poll() syscall number on the running kernel; set by the user side. */
const volatile s32 poll_syscall_nr = -1;

/* --syscall-events: post every call longer than events_min_ns to the host. */
const volatile bool events_enabled = false;
const volatile u64 events_min_ns = 0;
const volatile bool events_skip_poll = false;
const volatile bool events_stacks = false;
/* Unread bytes in the ring from which a post wakes the host (see post_event()). */
const volatile u64 events_wakeup_bytes = 0;

/*
 * The event ring and the stack table are created by the host (sized from
 * --buffer-page-count and --stack-trace-size) and shared into this object,
 * so the host drains and reads them directly. The sizes here are
 * placeholders the user half replaces before load.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} kdelay_syscall_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 1);
	__type(key, u32);
	__uint(value_size, KDELAY_MAX_STACK_DEPTH * sizeof(u64));
} kdelay_stack_traces SEC(".maps");

/*
 * -s with stacks: where each thread's call in progress went off the CPU
 * blocked (syscalls_switch), so an event shows the kernel stack that waited
 * (schedule <- pipe_read <- vfs_read, say) and not only the exit path. Of
 * several blockings of one call the longest stretch off the CPU is kept:
 * that is the wait that made the call slow, where the last one is often a
 * short lock or page wait on the way out. Sized 1 unless stacks are on.
 */
struct blocked_call {
	u64 entry_ns;     /* the call's entry stamp: a record of an older call starts afresh */
	u64 out_ns;       /* the switch-out under way; 0 while on the CPU */
	u64 longest_ns;   /* the longest stretch off the CPU so far, */
	s32 stack_id;     /* and the kernel stack at its switch-out */
	s32 out_stack_id; /* the kernel stack of the switch-out under way */
	u32 count;        /* blocking switch-outs in the call */
	u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u32);
	__type(value, struct blocked_call);
} syscall_blocked SEC(".maps");

/*
 * The stretch off the CPU that began at out_ns (the record's, read once by
 * the caller) ends at end_ns: it becomes the call's longest if it is.
 */
static __always_inline void blocked_stretch_end(struct blocked_call *blocked, u64 out_ns, u64 end_ns)
{
	u64 stretch = end_ns - out_ns;

	if (stretch > blocked->longest_ns) {
		blocked->longest_ns = stretch;
		blocked->stack_id = blocked->out_stack_id;
	}
	blocked->out_ns = 0;
}

/* Events lost because the ring was full, and stacks that could not be stored. */
enum { LOSS_EVENTS = 0, LOSS_STACKS = 1 };
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, u64);
} syscall_event_losses SEC(".maps");

static __always_inline void count_loss(u32 what)
{
	kdelay_count_percpu(&syscall_event_losses, what);
}

static __always_inline void post_event(void *ctx, u32 tid, u32 nr, u64 entry_ns, u64 exit_ns)
{
	struct kdelay_syscall_event *event = bpf_ringbuf_reserve(&kdelay_syscall_events, sizeof(*event), 0);
	u64 wakeup = BPF_RB_NO_WAKEUP;

	if (!event) {
		count_loss(LOSS_EVENTS);
		return;
	}
	event->entry_ns = entry_ns;
	event->exit_ns = exit_ns;
	event->tid = tid;
	event->nr = nr;
	event->kernel_stack_id = -1;
	event->user_stack_id = -1;
	if (events_stacks) {
		event->kernel_stack_id = bpf_get_stackid(ctx, &kdelay_stack_traces, 0);
		event->user_stack_id = bpf_get_stackid(ctx, &kdelay_stack_traces, BPF_F_USER_STACK);
		if (event->kernel_stack_id < 0 || event->user_stack_id < 0)
			count_loss(LOSS_STACKS);
	}
	event->blocked_ns = 0;
	event->blocked_stack_id = -1;
	event->blocked_count = 0;
	if (events_stacks) {
		struct blocked_call *blocked = bpf_map_lookup_elem(&syscall_blocked, &tid);

		if (blocked && blocked->entry_ns == entry_ns && blocked->count) {
			u64 out_ns = blocked->out_ns;

			/*
			 * A switch-out whose switch back in no program saw: the
			 * thread is on a CPU again (it is exiting its call), so
			 * that stretch ended before this exit. Some kernels (this
			 * project's 6.18 VM: ftrace's sched_switch misses the same
			 * switch-ins) do not always emit sched_switch for a
			 * switch-in. Ending the stretch here keeps the stack
			 * where the call waited, and overstates the stretch only
			 * by the return path since the thread was woken.
			 */
			if (out_ns && out_ns < exit_ns)
				blocked_stretch_end(blocked, out_ns, exit_ns);
			event->blocked_ns = blocked->longest_ns;
			event->blocked_stack_id = blocked->stack_id;
			event->blocked_count = blocked->count;
			if (blocked->stack_id < 0)
				count_loss(LOSS_STACKS);
		}
	}
	/*
	 * A wake-up per event (the default when the host has caught up, which
	 * a fast host always has) queues an irq_work and an epoll round trip
	 * per event: most of an event's cost. The host polls the ring on a
	 * timer instead, and is woken only once a quarter of it waits.
	 */
	if (bpf_ringbuf_query(&kdelay_syscall_events, BPF_RB_AVAIL_DATA) >= events_wakeup_bytes)
		wakeup = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(event, wakeup);
}

/*
 * Catch mode (--catch-long-poll, --catch-syscall): a poll interval or a
 * system call at least this long (0: off) is posted to the host's
 * kdelay_catch_events ring, shared into this object when catching (a
 * placeholder page otherwise). Detected at its end, whatever window it began
 * in: the host keeps the slices that cover it (host/driver/catch-mode.ts).
 */
const volatile u64 catch_long_poll_ns = 0;
const volatile u64 catch_syscall_ns = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} kdelay_catch_events SEC(".maps");

static __always_inline void post_catch(u32 kind, u32 tid, u32 nr, u64 start_ns, u64 stop_ns)
{
	struct kdelay_catch_event *event = bpf_ringbuf_reserve(&kdelay_catch_events, sizeof(*event), 0);

	if (!event) {
		kdelay_count_map_full();
		return;
	}
	event->start_ns = start_ns;
	event->stop_ns = stop_ns;
	event->tid = tid;
	event->nr = nr;
	event->kind = kind;
	event->pad = 0;
	bpf_ringbuf_submit(event, 0);
}

/* Their sizes and offsets reach syscalls.ts generated from the BTF (build/syscalls.layout.ts). */
struct syscall_key {
	u32 tid;
	u32 nr;
};

/* A thread's syscall in progress, and when it last returned from poll(). */
struct syscall_start {
	u64 entry_ns;     /* 0: consumed (no call in progress) */
	u64 poll_exit_ns; /* 0: none since the last long-poll interval */
	u32 nr;
	u32 tid; /* the slot's owner (stamp_slots only) */
};

/*
 * Every syscall entry and exit of the target finds its thread's stamp, and
 * every exit adds to a (thread, syscall) statistic, so where those live
 * decides most of this probe's cost above the empty-program floor. A
 * thread owns a slot of stamp_slots (kdelay_slots.bpf.h) when it is the
 * first to claim it: an array lookup is inlined by the verifier, a hash
 * lookup is a helper call that hashes the key. A slot is kept until the
 * thread exits (syscalls_thread_exit); a thread whose slot another owns keeps its
 * stamp in syscall_start and adds every call to syscall_stats. Either way a
 * thread always finds its stamp: in its slot once it has one (a claim moves
 * its hash stamp there), else in the hash.
 *
 * A slot also accumulates the calls of its thread's latest syscall number
 * (a thread often makes the same call many times in a row): they go into
 * syscall_stats only when the thread makes another call, and whatever is
 * still cached when the window closes is merged by the user half. `window`
 * says which window the cache belongs to: a cache of an older one was
 * already reported, and is simply started afresh.
 */
struct stamp_slot {
	struct syscall_start stamp;
	u64 window; /* window_start_ns of the window `cached` belongs to */
	u32 cached_nr;
	/*
	 * The tid of an owner that exited while its window was being reported
	 * (stamp.tid is 0 then, slot_owner still set): the user half folds
	 * what it cached and frees the slot (see thread_exit()).
	 */
	u32 exited_tid;
	struct kdelay_stat cached;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KDELAY_SLOTS);
	__type(key, u32);
	__type(value, struct stamp_slot);
} stamp_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u32);
	__type(value, struct syscall_start);
} syscall_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct syscall_key);
	__type(value, struct kdelay_stat);
} syscall_stats SEC(".maps");

/*
 * tid's own slot, claiming it if free and `claim`; NULL if another thread
 * owns it. A slot freed by an exited owner may be claimed by a thread that
 * has kept its stamp in syscall_start until now: the stamp moves into the
 * slot, so the thread still finds its last poll() return.
 */
static __always_inline struct stamp_slot *own_slot(u32 tid, bool claim)
{
	u32 index = kdelay_slot_index(tid);
	struct stamp_slot *slot = bpf_map_lookup_elem(&stamp_slots, &index);
	struct syscall_start *old;

	if (!slot)
		return NULL;
	if (slot->stamp.tid == tid)
		return slot;
	if (!claim || slot->stamp.tid || !kdelay_slot_claim(index, &slot->stamp.tid, tid))
		return NULL;
	old = bpf_map_lookup_elem(&syscall_start, &tid);
	if (old) {
		slot->stamp.entry_ns = old->entry_ns;
		slot->stamp.poll_exit_ns = old->poll_exit_ns;
		slot->stamp.nr = old->nr;
		bpf_map_delete_elem(&syscall_start, &tid);
	}
	return slot;
}

/* Adds a slot's cached calls to syscall_stats; what does not fit is counted, call by call. */
static __always_inline void flush_cached(u32 tid, struct stamp_slot *slot)
{
	struct syscall_key key = { .tid = tid, .nr = slot->cached_nr };
	struct kdelay_stat zero = {};
	struct kdelay_stat *stat = kdelay_lookup_or_init(&syscall_stats, &key, &zero);
	struct kdelay_stat *cached = &slot->cached;
	u32 first = 0;
	u64 *full;

	if (!stat) {
		/* kdelay_lookup_or_init() counted one of them. */
		full = bpf_map_lookup_elem(&kdelay_map_full, &first);
		if (full && cached->count > 1)
			__sync_fetch_and_add(full, cached->count - 1);
		return;
	}
	if (stat->count == 0 || cached->min_ns < stat->min_ns)
		stat->min_ns = cached->min_ns;
	if (cached->max_ns > stat->max_ns)
		stat->max_ns = cached->max_ns;
	stat->count += cached->count;
	stat->total_ns += cached->total_ns;
}

/* Counts one call of `nr` that took delta_ns in the open window (gate) for the thread. */
static __always_inline void count_call(u32 tid, u32 nr, u64 delta_ns, struct stamp_slot *slot, struct kdelay_gate *gate)
{
	struct syscall_key key = { .tid = tid, .nr = nr };

	if (!slot) {
		kdelay_stat_record(&syscall_stats, &key, delta_ns);
		return;
	}
	if (slot->window == gate->window_start_ns && slot->cached_nr == nr) {
		kdelay_stat_add(&slot->cached, delta_ns);
		return;
	}
	if (slot->window == gate->window_start_ns && slot->cached.count)
		flush_cached(tid, slot);
	slot->window = gate->window_start_ns;
	slot->cached_nr = nr;
	slot->cached.count = 1;
	slot->cached.total_ns = delta_ns;
	slot->cached.min_ns = delta_ns;
	slot->cached.max_ns = delta_ns;
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u32);
	__type(value, struct kdelay_stat);
} long_poll_stats SEC(".maps");

/* Catch mode, and a thread of the target: its stamps are kept also while the gate is closed. */
static __always_inline bool catch_stamps(u64 pid_tgid)
{
	return (catch_long_poll_ns || catch_syscall_ns) && (u32)(pid_tgid >> 32) == kdelay_target_tgid;
}

/*
 * A system call entered between two slices of catch mode (the gate closed
 * while the host collects): nothing is counted, but the stamps catch mode
 * reads stay true, so an interval or call that begins or ends in the gap
 * is still caught.
 */
static __always_inline void catch_gap_enter(u32 tid, long id, u64 now)
{
	struct syscall_start *stamp;
	struct stamp_slot *slot = own_slot(tid, false);

	stamp = slot ? &slot->stamp : bpf_map_lookup_elem(&syscall_start, &tid);
	if (!stamp)
		return;
	if (!now)
		now = bpf_ktime_get_ns();
	if (id == poll_syscall_nr && catch_long_poll_ns && stamp->poll_exit_ns) {
		if (now - stamp->poll_exit_ns >= catch_long_poll_ns)
			post_catch(KDELAY_CATCH_LONG_POLL, tid, (u32)id, stamp->poll_exit_ns, now);
		stamp->poll_exit_ns = 0;
	}
	stamp->nr = (u32)id;
	stamp->entry_ns = now;
}

static __always_inline void on_sys_enter(struct pt_regs *regs, long id, bool with_account)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	struct kdelay_gate *gate;
	struct syscall_start *stamp;
	struct stamp_slot *slot;
	u32 tid = (u32)pid_tgid;
	u64 now = 0;

	if ((u32)(pid_tgid >> 32) != kdelay_target_tgid)
		return;
	gate = kdelay_gate_get();
	if (with_account) {
		/* In any state of the gate: the account tracks segments while it is closed too. */
		now = bpf_ktime_get_ns();
		kdelay_account_sys_enter(tid, id, now, gate);
	}
	if (!gate || gate->state != KDELAY_GATE_OPEN) {
		if (catch_stamps(pid_tgid))
			catch_gap_enter(tid, id, now);
		return;
	}
	if (!now)
		now = bpf_ktime_get_ns();
	slot = own_slot(tid, true);
	stamp = slot ? &slot->stamp : bpf_map_lookup_elem(&syscall_start, &tid);
	if (!stamp) {
		/* First sight of a thread without a slot: nothing to end yet. */
		struct syscall_start first = { .entry_ns = now, .nr = (u32)id, .tid = tid };

		if (bpf_map_update_elem(&syscall_start, &tid, &first, BPF_NOEXIST))
			kdelay_count_map_full();
		return;
	}
	if (id == poll_syscall_nr && catch_long_poll_ns && stamp->poll_exit_ns) {
		if (now - stamp->poll_exit_ns >= catch_long_poll_ns)
			post_catch(KDELAY_CATCH_LONG_POLL, tid, (u32)id, stamp->poll_exit_ns, now);
		if (stamp->poll_exit_ns < gate->window_start_ns)
			stamp->poll_exit_ns = 0;
	}
	if (id == poll_syscall_nr && stamp->poll_exit_ns && stamp->poll_exit_ns >= gate->window_start_ns) {
		kdelay_stat_record(&long_poll_stats, &tid, now - stamp->poll_exit_ns);
		stamp->poll_exit_ns = 0;
	}
	/* Rewritten in place: a hash update per call would allocate and free an element. */
	stamp->nr = (u32)id;
	stamp->entry_ns = now;
}

/*
 * The number of the system call a sys_exit returns from, from its
 * registers: the stamp's number is that of the last call entered in a
 * window, which need not be this one when this one entered outside it.
 */
static __always_inline s32 exiting_syscall_nr(struct pt_regs *regs)
{
	return (s32)kdelay_syscall_nr(regs);
}

/* A system call returned between two slices of catch mode: see catch_gap_enter(). */
static __always_inline void catch_gap_exit(u32 tid, struct pt_regs *regs, u64 now)
{
	struct syscall_start *start;
	struct stamp_slot *slot = own_slot(tid, false);
	s32 exiting;

	start = slot ? &slot->stamp : bpf_map_lookup_elem(&syscall_start, &tid);
	if (!start)
		return;
	if (!now)
		now = bpf_ktime_get_ns();
	exiting = exiting_syscall_nr(regs);
	if (catch_syscall_ns && start->entry_ns && (s32)start->nr == exiting &&
	    now - start->entry_ns >= catch_syscall_ns)
		post_catch(KDELAY_CATCH_SYSCALL, tid, start->nr, start->entry_ns, now);
	start->entry_ns = 0;
	if (exiting == poll_syscall_nr)
		start->poll_exit_ns = now;
}

/*
 * A poll() that entered before the window (or before kdelay first saw the
 * thread) returned inside it: the call is not counted, but the interval
 * to the next poll() lies inside the window and is. A thread seen for
 * the first time gets its stamp here.
 */
static __always_inline void poll_returned(u32 tid, struct syscall_start *start, u64 now)
{
	struct syscall_start first = { .poll_exit_ns = now, .nr = (u32)poll_syscall_nr, .tid = tid };
	struct stamp_slot *slot;

	if (start) {
		start->entry_ns = 0;
		start->poll_exit_ns = now;
		return;
	}
	slot = own_slot(tid, true);
	if (slot) {
		slot->stamp.entry_ns = 0;
		slot->stamp.poll_exit_ns = now;
		return;
	}
	/* A full map loses the interval this poll() begins: count it. */
	if (bpf_map_update_elem(&syscall_start, &tid, &first, BPF_NOEXIST))
		kdelay_count_map_full();
}

static __always_inline void on_sys_exit(void *ctx, struct pt_regs *regs, bool with_account)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	struct kdelay_gate *gate;
	u32 tid = (u32)pid_tgid;
	struct syscall_start *start;
	struct stamp_slot *slot;
	u32 nr;
	u64 now = 0;

	if ((u32)(pid_tgid >> 32) != kdelay_target_tgid)
		return;
	gate = kdelay_gate_get();
	if (with_account) {
		now = bpf_ktime_get_ns();
		kdelay_account_sys_exit(tid, regs, now, gate);
	}
	if (!gate || gate->state != KDELAY_GATE_OPEN) {
		if (catch_stamps(pid_tgid))
			catch_gap_exit(tid, regs, now);
		return;
	}
	if (!now)
		now = bpf_ktime_get_ns();
	slot = own_slot(tid, false);
	start = slot ? &slot->stamp : bpf_map_lookup_elem(&syscall_start, &tid);
	/* Calls that entered before the window opened are not counted; a poll()'s return is noted. */
	if (!start || start->entry_ns < gate->window_start_ns) {
		s32 exiting = exiting_syscall_nr(regs);

		/* A call that entered in an earlier slice of catch mode: its entry stamp is its own if the numbers agree. */
		if (catch_syscall_ns && start && start->entry_ns && (s32)start->nr == exiting &&
		    now - start->entry_ns >= catch_syscall_ns) {
			post_catch(KDELAY_CATCH_SYSCALL, tid, start->nr, start->entry_ns, now);
			start->entry_ns = 0;
		}
		if (exiting == poll_syscall_nr)
			poll_returned(tid, start, now);
		return;
	}
	nr = start->nr;
	count_call(tid, nr, now - start->entry_ns, slot, gate);
	if (catch_syscall_ns && now - start->entry_ns >= catch_syscall_ns)
		post_catch(KDELAY_CATCH_SYSCALL, tid, nr, start->entry_ns, now);
	if (events_enabled && now - start->entry_ns > events_min_ns &&
	    !(events_skip_poll && (s32)nr == poll_syscall_nr))
		post_event(ctx, tid, nr, start->entry_ns, now);
	/* Consumed: an exit without a fresh entry must not reuse this stamp. */
	start->entry_ns = 0;
	if ((s32)nr == poll_syscall_nr)
		start->poll_exit_ns = now;
}

/* The programs, plain and with the account's work (see the top), in the order they attach. */
SEC("tp_btf/sys_enter")
int BPF_PROG(syscalls_enter, struct pt_regs *regs, long id)
{
	on_sys_enter(regs, id, false);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(syscalls_exit, struct pt_regs *regs, long ret)
{
	on_sys_exit(ctx, regs, false);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(syscalls_enter_account, struct pt_regs *regs, long id)
{
	on_sys_enter(regs, id, true);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(syscalls_exit_account, struct pt_regs *regs, long ret)
{
	on_sys_exit(ctx, regs, true);
	return 0;
}

/*
 * -s with stacks (loaded only then): a target thread inside a call of the
 * window leaves the CPU blocked (not preempted, not runnable): note the
 * kernel stack it waits in; when it comes back, keep that stack if this
 * stretch is the call's longest. Current is still `prev` here, so
 * bpf_get_stackid() walks the stack that sleeps.
 */
static __always_inline void blocked_out(void *ctx, bool preempt, struct task_struct *prev)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	struct kdelay_gate *gate = kdelay_capturing(pid_tgid);
	struct blocked_call fresh = {}, *blocked;
	struct syscall_start *start;
	struct stamp_slot *slot;
	u32 tid = (u32)pid_tgid;

	if (!gate || preempt || kdelay_task_state(prev) == TASK_RUNNING)
		return;
	slot = own_slot(tid, false);
	start = slot ? &slot->stamp : bpf_map_lookup_elem(&syscall_start, &tid);
	if (!start || !start->entry_ns || start->entry_ns < gate->window_start_ns ||
	    (events_skip_poll && (s32)start->nr == poll_syscall_nr))
		return;
	blocked = kdelay_lookup_or_init(&syscall_blocked, &tid, &fresh);
	if (!blocked)
		return;
	if (blocked->entry_ns != start->entry_ns) {
		blocked->entry_ns = start->entry_ns;
		blocked->longest_ns = 0;
		blocked->stack_id = -1;
		blocked->count = 0;
		blocked->out_ns = 0;
	}
	/* The switch back in after the last switch-out went unseen (post_event): its stretch's length is unknown, its stack is not. */
	if (blocked->out_ns && blocked->stack_id < 0)
		blocked->stack_id = blocked->out_stack_id;
	blocked->out_stack_id = bpf_get_stackid(ctx, &kdelay_stack_traces, 0);
	blocked->out_ns = bpf_ktime_get_ns();
	blocked->count++;
}

static __always_inline void blocked_in(u32 tid)
{
	struct blocked_call *blocked = bpf_map_lookup_elem(&syscall_blocked, &tid);

	if (blocked && blocked->out_ns)
		blocked_stretch_end(blocked, blocked->out_ns, bpf_ktime_get_ns());
}

SEC("tp_btf/sched_switch")
int BPF_PROG(syscalls_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	if (prev->tgid == kdelay_target_tgid)
		blocked_out(ctx, preempt, prev);
	if (next->tgid == kdelay_target_tgid)
		blocked_in(next->pid);
	return 0;
}

/* Frees a slot: its contents first, then its owner entry, which lets another thread claim it. */
static __always_inline void free_slot(struct stamp_slot *slot, u32 index)
{
	__builtin_memset(slot, 0, sizeof(*slot));
	kdelay_slot_release(index);
}

/*
 * A thread of the target exits (any gate state; this runs in the exiting
 * thread, after its last sys_exit, and nothing of it runs after): its
 * records are freed, so new threads find room. Its statistics of the
 * window stay in syscall_stats until reported. What its slot cached of
 * the window goes there first while the window is open; while the window
 * is being reported, the user half may be reading the slot, so the slot is
 * only marked (exited_tid) and the user half folds and frees it.
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(syscalls_thread_exit, struct task_struct *task)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	struct kdelay_gate *gate;
	struct stamp_slot *slot;
	u32 tid = (u32)pid_tgid;
	u32 index = kdelay_slot_index(tid);

	if ((u32)(pid_tgid >> 32) != kdelay_target_tgid)
		return 0;
	if (events_stacks)
		bpf_map_delete_elem(&syscall_blocked, &tid);
	slot = bpf_map_lookup_elem(&stamp_slots, &index);
	if (!slot || slot->stamp.tid != tid) {
		bpf_map_delete_elem(&syscall_start, &tid);
		return 0;
	}
	gate = kdelay_gate_get();
	if (gate && slot->cached.count && slot->window == gate->window_start_ns) {
		if (gate->state == KDELAY_GATE_OPEN) {
			flush_cached(tid, slot);
		} else if (gate->state == KDELAY_GATE_REPORTING) {
			slot->exited_tid = tid;
			slot->stamp.tid = 0;
			return 0;
		}
	}
	free_slot(slot, index);
	return 0;
}
