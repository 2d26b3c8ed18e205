// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * irq.bpf.c - time spent in interrupts while a thread of the target ran.
 *
 * HARD IRQ STATISTICS: for each thread of the target and each interrupt
 * handler (by irqaction->name, as /proc/interrupts shows it), the count,
 * total and maximum duration of the handler runs that interrupted that
 * thread and returned "handled" (ret != IRQ_NONE).
 *
 * SOFT IRQ STATISTICS: likewise per softirq vector (timer, net_rx, rcu, ...),
 * for softirqs processed while the thread was the current task: on the way
 * out of a hard interrupt, or when the thread itself re-enabled bottom
 * halves. Softirqs run by ksoftirqd belong to ksoftirqd, not to the target.
 *
 * Start stamps live in one PERCPU_ARRAY slot per kind instead of a hash keyed
 * by thread: entry and exit of a handler run on the same CPU with the same
 * current task, a CPU runs one hard handler (and one softirq) at a time, and
 * hard and soft have separate slots because a hard interrupt can arrive
 * during a softirq. The slot remembers the thread and the handler, so an
 * exit whose entry was not recorded (filtered, or before the window) never
 * pairs with someone else's stamp.
 */
#include "kdelay_core.bpf.h"
#include "kdelay_gate.bpf.h"
#include "kdelay_stats.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define IRQ_NONE     0
#define IRQ_NAME_LEN 32

/* irq.ts reads these through build/irq.layout.ts, generated from the BTF. */
struct irq_start {
	u64 entry_ns; /* 0: no handler of the target is in progress */
	u64 handler;  /* the irqaction pointer, or the softirq vector */
	u32 tid;
	u32 pad;
};

struct hardirq_key {
	u32 tid;
	char name[IRQ_NAME_LEN]; /* NUL-terminated, zero-padded */
};

struct softirq_key {
	u32 tid;
	u32 vec_nr;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct irq_start);
} hardirq_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct irq_start);
} softirq_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct hardirq_key);
	__type(value, struct kdelay_stat);
} hardirq_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct softirq_key);
	__type(value, struct kdelay_stat);
} softirq_stats SEC(".maps");

/* Stamps this CPU's slot: the target thread tid entered handler. */
static __always_inline void irq_stamp(void *slots, u32 tid, u64 handler)
{
	u32 zero = 0;
	struct irq_start *start = bpf_map_lookup_elem(slots, &zero);

	if (!start)
		return;
	start->entry_ns = bpf_ktime_get_ns();
	start->handler = handler;
	start->tid = tid;
}

/*
 * Consumes this CPU's slot at the exit of handler. Returns 1 and the
 * duration in *delta if the entry was recorded for this thread and handler
 * inside the current window, else 0.
 */
static __always_inline int irq_elapsed(void *slots, const struct kdelay_gate *gate, u32 tid, u64 handler, u64 *delta)
{
	u32 zero = 0;
	struct irq_start *start = bpf_map_lookup_elem(slots, &zero);
	u64 entry_ns;

	if (!start)
		return 0;
	entry_ns = start->entry_ns;
	if (!entry_ns || start->tid != tid || start->handler != handler)
		return 0;
	start->entry_ns = 0;
	/* Handlers that began before the window opened are not counted. */
	if (entry_ns < gate->window_start_ns)
		return 0;
	*delta = bpf_ktime_get_ns() - entry_ns;
	return 1;
}

SEC("tp_btf/irq_handler_entry")
int BPF_PROG(irq_hard_entry, int irq, struct irqaction *action)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!kdelay_capturing(pid_tgid))
		return 0;
	irq_stamp(&hardirq_start, (u32)pid_tgid, (u64)action);
	return 0;
}

SEC("tp_btf/irq_handler_exit")
int BPF_PROG(irq_hard_exit, int irq, struct irqaction *action, int ret)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	struct kdelay_gate *gate = kdelay_capturing(pid_tgid);
	struct hardirq_key key = {};
	const char *name;
	u64 delta;

	if (!gate)
		return 0;
	if (!irq_elapsed(&hardirq_start, gate, (u32)pid_tgid, (u64)action, &delta) || ret == IRQ_NONE)
		return 0;

	key.tid = (u32)pid_tgid;
	name = BPF_CORE_READ(action, name);
	/* The irq tracepoints print a NULL name as "(null)"; so does the reference. */
	if (!name || bpf_probe_read_kernel_str(key.name, sizeof(key.name), name) < 0)
		__builtin_memcpy(key.name, "(null)", sizeof("(null)"));
	kdelay_stat_record(&hardirq_stats, &key, delta);
	return 0;
}

SEC("tp_btf/softirq_entry")
int BPF_PROG(irq_soft_entry, unsigned int vec_nr)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!kdelay_capturing(pid_tgid))
		return 0;
	irq_stamp(&softirq_start, (u32)pid_tgid, vec_nr);
	return 0;
}

SEC("tp_btf/softirq_exit")
int BPF_PROG(irq_soft_exit, unsigned int vec_nr)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	struct kdelay_gate *gate = kdelay_capturing(pid_tgid);
	struct softirq_key key;
	u64 delta;

	if (!gate)
		return 0;
	if (!irq_elapsed(&softirq_start, gate, (u32)pid_tgid, vec_nr, &delta))
		return 0;

	key.tid = (u32)pid_tgid;
	key.vec_nr = vec_nr;
	kdelay_stat_record(&softirq_stats, &key, delta);
	return 0;
}
