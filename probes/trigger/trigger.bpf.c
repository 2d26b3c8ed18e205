// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trigger.bpf.c - start and stop triggers: open and close the capture gate
 * in the kernel, at the exact hit, and tell the host.
 *
 * One generic program per attach type and role; the user half enables only
 * the ones the command line asks for and attaches them at run time to the
 * target the user named (USDT and uprobes in the target's executable only).
 *
 * The gate moves IDLE -> OPEN (start) -> REPORTING (stop) -> IDLE (host,
 * after reporting). Two hits on two CPUs must not both win a move, and the
 * obvious tool, compare-and-swap (__sync_val_compare_and_swap, a BPF atomic
 * cmpxchg), needs kernel 5.12: 5.10 rejects it ("BPF_STX uses reserved
 * fields"). So a hit first claims its move in trigger_claims, a hash map
 * keyed by the move, with BPF_NOEXIST: the kernel inserts under the bucket
 * lock, so exactly one insert succeeds, on every kernel with BPF hash maps.
 * The winner alone then writes the gate. The user half deletes the claims
 * in kdelay_probe_reset, which the host calls after reporting and before it
 * sets the gate back to IDLE, so each window can be claimed once.
 * (Two program variants, cmpxchg where the kernel has it, would test two
 * code paths for no gain: a hit costs one map update either way.)
 *
 * A start that finds the gate busy is counted as missed, as the reference
 * does. Each winning hit is posted to the host's ring buffer.
 */
#include "kdelay_core.bpf.h"
#include "kdelay_gate.bpf.h"
#include <bpf/usdt.bpf.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Created by the host and shared into this object (bpf_object_share_map). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, KDELAY_TRIGGER_RING_BYTES);
} kdelay_trigger_events SEC(".maps");

/* Who won this window's START and STOP moves (value: the hit's time); see claim(). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, u64);
} trigger_claims SEC(".maps");

/* Ring-buffer reservations that failed: the host reports them. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} trigger_event_drops SEC(".maps");

static __always_inline void post(u32 kind, u64 ts)
{
	struct kdelay_trigger_event *event = bpf_ringbuf_reserve(&kdelay_trigger_events, sizeof(*event), 0);

	if (!event) {
		u32 zero = 0;
		u64 *drops = bpf_map_lookup_elem(&trigger_event_drops, &zero);

		if (drops)
			__sync_fetch_and_add(drops, 1);
		return;
	}
	event->ts = ts;
	event->kind = kind;
	event->pad = 0;
	bpf_ringbuf_submit(event, 0);
}

/*
 * Claims the gate move `kind` for this window; 1 if this hit won it. Keys
 * are the kdelay_trigger_event_kind of the move (START opens, STOP closes).
 */
static __always_inline int claim(u32 kind, u64 now)
{
	return bpf_map_update_elem(&trigger_claims, &kind, &now, BPF_NOEXIST) == 0;
}

static __always_inline int on_start(void)
{
	struct kdelay_gate *gate = kdelay_gate_get();
	u64 now = bpf_ktime_get_ns();

	if (!gate)
		return 0;
	if (gate->state != KDELAY_GATE_IDLE || !claim(KDELAY_TRIGGER_START, now)) {
		__sync_fetch_and_add(&gate->missed_starts, 1); /* no fetch: a plain BPF atomic add, any kernel */
		return 0;
	}
	/*
	 * Stamp the start before the state flips: probes read it once OPEN.
	 * These are plain stores (cmpxchg was also a barrier): on arm64 another
	 * CPU may see OPEN a few nanoseconds before the new start, and for that
	 * instant compare against the previous window's (older) start.
	 */
	gate->window_start_ns = now;
	gate->window_stop_ns = 0;
	gate->state = KDELAY_GATE_OPEN;
	post(KDELAY_TRIGGER_START, now);
	return 0;
}

static __always_inline int on_stop(void)
{
	struct kdelay_gate *gate = kdelay_gate_get();
	u64 now = bpf_ktime_get_ns();

	if (!gate || gate->state != KDELAY_GATE_OPEN || !claim(KDELAY_TRIGGER_STOP, now))
		return 0;
	/* The stop time first: probes clip to it once they see REPORTING. */
	gate->window_stop_ns = now;
	gate->state = KDELAY_GATE_REPORTING;
	post(KDELAY_TRIGGER_STOP, now);
	return 0;
}

/* One start and one stop program per attach type; all attached at run time. */
#define TRIGGER_PAIR(section, type)                        \
	SEC(section) int trigger_##type##_start(void *ctx) \
	{                                                  \
		return on_start();                         \
	}                                                  \
	SEC(section) int trigger_##type##_stop(void *ctx)  \
	{                                                  \
		return on_stop();                          \
	}

TRIGGER_PAIR("usdt", usdt)
TRIGGER_PAIR("uprobe", uprobe)
TRIGGER_PAIR("uretprobe", uretprobe)
TRIGGER_PAIR("raw_tp", raw_tp)
TRIGGER_PAIR("tracepoint", tp)
TRIGGER_PAIR("kprobe", kprobe)
TRIGGER_PAIR("kretprobe", kretprobe)
/* fentry/fexit need their kernel function set before load (set_attach_target). */
TRIGGER_PAIR("fentry", fentry)
TRIGGER_PAIR("fexit", fexit)
