/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * kdelay_clock.bpf.h - one clock read per event, shared by the probes.
 *
 * bpf_ktime_get_ns() is the dearest thing most hooks do (~75 ns on a VM's
 * kvm-clock), and with --verdict the account probe and the sched probe
 * each read it at the same target event: a context switch, a wake-up. The
 * account probe, attached first (built-in probes attach in their bundles'
 * order, and account's comes first), writes the time it read into this
 * CPU's entry of kdelay_clock with what the event was; the sched probe,
 * running next on the same tracepoint, takes it instead of reading the
 * clock again. (At system call entries and exits one program does both
 * probes' work: kdelay_account.bpf.h.)
 *
 * A reader takes the entry only if it is of this very event: the same kind
 * and thread(s), and not before what the reader knows already happened
 * (its not_before); it then marks the entry taken, so that it can never be
 * taken for a later event. Anything else (the account probe not loaded,
 * another thread's entry after a preemption in between, an event the
 * account probe skipped) reads the clock as before: a mismatch costs a
 * clock read, never a wrong time.
 *
 * The host creates the map (host/driver/probe-set.ts) so that no probe's
 * load waits for another's.
 */
#ifndef KDELAY_CLOCK_BPF_H
#define KDELAY_CLOCK_BPF_H

#include "kdelay_core.bpf.h"
#include "kdelay_records.bpf.h" /* struct kdelay_clock, enum kdelay_clock_event */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct kdelay_clock);
} kdelay_clock SEC(".maps");

/* The writer (the account probe): now, for the event of kind `event` of thread tid (and other). */
static __always_inline u64 kdelay_clock_stamp(u32 event, u32 tid, u32 other)
{
	u32 zero = 0;
	struct kdelay_clock *clock = bpf_map_lookup_elem(&kdelay_clock, &zero);
	u64 now = bpf_ktime_get_ns();

	if (clock) {
		clock->ns = now;
		clock->tid = tid;
		clock->other = other;
		clock->event = event;
	}
	return now;
}

/* A reader: the time the writer read for this event, else the clock's. */
static __always_inline u64 kdelay_clock_take(u32 event, u32 tid, u32 other, u64 not_before)
{
	u32 zero = 0;
	struct kdelay_clock *clock = bpf_map_lookup_elem(&kdelay_clock, &zero);

	if (clock && clock->event == event && clock->tid == tid && clock->other == other && clock->ns >= not_before) {
		clock->event = KDELAY_CLOCK_TAKEN;
		return clock->ns;
	}
	return bpf_ktime_get_ns();
}

#endif /* KDELAY_CLOCK_BPF_H */
