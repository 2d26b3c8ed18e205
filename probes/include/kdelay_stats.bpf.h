/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * kdelay_stats.bpf.h - count/total/min/max accumulators kept in hash maps.
 *
 * Keys are per thread, and a thread runs on one CPU at a time, so plain
 * (non-atomic) updates are safe. Inserts that fail because a map is full are
 * counted in `kdelay_map_full`, which the user side reports: a full map must
 * never make numbers silently smaller.
 */
#ifndef KDELAY_STATS_BPF_H
#define KDELAY_STATS_BPF_H

#include "kdelay_core.bpf.h"

/* The user half reads it through probes/lib/stats.ts, generated from this (probes/lib/build/). */
struct kdelay_stat {
	u64 count;
	u64 total_ns;
	u64 min_ns;
	u64 max_ns;
};
KDELAY_SHARED_STRUCT(kdelay_stat)

/* Failed inserts; a plain array (atomic add) since it is only touched on failure. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} kdelay_map_full SEC(".maps");

static __always_inline void kdelay_count_map_full(void)
{
	u32 zero = 0;
	u64 *n = bpf_map_lookup_elem(&kdelay_map_full, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/*
 * Adds one to the u64 at key of a PERCPU_ARRAY of counters (losses, missed
 * events): each CPU writes its own slot, so a plain increment is safe; the
 * user half sums the CPUs (probes/lib/kdelay.ts: PercpuCounter).
 */
static __always_inline void kdelay_count_percpu(void *counters, u32 key)
{
	u64 *n = bpf_map_lookup_elem(counters, &key);

	if (n)
		(*n)++;
}

/* Finds the entry for key, creating a zeroed one; NULL (and counted) if full. */
static __always_inline void *kdelay_lookup_or_init(void *map, const void *key, const void *zero)
{
	void *value = bpf_map_lookup_elem(map, key);

	if (value)
		return value;
	/* Another CPU may insert the same key first: the lookup below finds it. */
	bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	value = bpf_map_lookup_elem(map, key);
	if (!value)
		kdelay_count_map_full();
	return value;
}

static __always_inline void kdelay_stat_add(struct kdelay_stat *stat, u64 delta_ns)
{
	if (stat->count == 0 || delta_ns < stat->min_ns)
		stat->min_ns = delta_ns;
	if (delta_ns > stat->max_ns)
		stat->max_ns = delta_ns;
	stat->count++;
	stat->total_ns += delta_ns;
}

/* Adds one interval to the stat stored under key in map. */
static __always_inline void kdelay_stat_record(void *map, const void *key, u64 delta_ns)
{
	struct kdelay_stat zero = {};
	struct kdelay_stat *stat = kdelay_lookup_or_init(map, key, &zero);

	if (stat)
		kdelay_stat_add(stat, delta_ns);
}

#endif /* KDELAY_STATS_BPF_H */
