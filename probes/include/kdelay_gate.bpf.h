/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * kdelay_gate.bpf.h - the capture gate every probe consults first.
 *
 * One measurement window is shared by all probes: the host creates a single
 * `kdelay_gate` array map and hands its fd to every probe object before load
 * (bpf_map__reuse_fd), so opening the gate - from user space in time mode, or
 * from a trigger program in the kernel - opens it for all of them at once.
 *
 * A probe counts an interval only if it started at or after window_start_ns
 * and ended while the gate was still open, so stale per-thread start stamps
 * from an earlier window never need to be cleared.
 */
#ifndef KDELAY_GATE_BPF_H
#define KDELAY_GATE_BPF_H

#include "kdelay_core.bpf.h"
#include "kdelay_records.bpf.h" /* struct kdelay_gate, enum kdelay_gate_state */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct kdelay_gate);
} kdelay_gate SEC(".maps");

/* The process being measured; set by the host before load. */
const volatile u32 kdelay_target_tgid = 0;

/* The gate, whatever its state (NULL only if the map lookup fails). */
static __always_inline struct kdelay_gate *kdelay_gate_get(void)
{
	u32 zero = 0;

	return bpf_map_lookup_elem(&kdelay_gate, &zero);
}

/* Returns the open gate if `tgid` is the target process, else NULL. */
static __always_inline struct kdelay_gate *kdelay_capturing_tgid(u32 tgid)
{
	struct kdelay_gate *gate;

	/* Filter on the process first: hooks fire system-wide. */
	if (tgid != kdelay_target_tgid)
		return NULL;
	gate = kdelay_gate_get();
	if (!gate || gate->state != KDELAY_GATE_OPEN)
		return NULL;
	return gate;
}

/* Returns the open gate if the current task belongs to the target, else NULL. */
static __always_inline struct kdelay_gate *kdelay_capturing(u64 pid_tgid)
{
	return kdelay_capturing_tgid((u32)(pid_tgid >> 32));
}

/* The part of [since, now) inside the window, as the gate says it is now (0 unless it is open). */
static __always_inline u64 kdelay_in_window(const struct kdelay_gate *gate, u64 since, u64 now)
{
	u64 from;

	if (!gate || gate->state != KDELAY_GATE_OPEN)
		return 0;
	from = since > gate->window_start_ns ? since : gate->window_start_ns;
	return now > from ? now - from : 0;
}

#endif /* KDELAY_GATE_BPF_H */
