/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * kdelay_slots.bpf.h - per-thread slots of an array map, claimed once.
 *
 * A hash lookup is a helper call that hashes its key; an array lookup is
 * inlined by the verifier. A probe whose hooks find a thread's record on
 * every event (sched.bpf.c, syscalls.bpf.c) keeps it in an array of
 * slots: a thread owns the slot indexed by the low bits of its tid
 * (kdelay_slot_index()) when it is the first to claim it, and a thread
 * whose slot another owns keeps its record in the probe's hash maps.
 *
 * The probe declares the array (its element holds the owner's tid, 0 when
 * free; KDELAY_SLOTS entries by default); this header declares slot_mask
 * and slot_owner, which the user half sizes with the array
 * (probes/lib/kdelay.ts: BpfObject.setSlots()). A claim is a BPF_NOEXIST
 * insert into slot_owner: exactly one insert of a key succeeds, the only
 * atomic test-and-set 5.10's BPF offers.
 */
#ifndef KDELAY_SLOTS_BPF_H
#define KDELAY_SLOTS_BPF_H

#include "kdelay_core.bpf.h"

/* The default number of slots; the user half sets the real one (a power of two) and its mask. */
#define KDELAY_SLOTS 4096

/* Maps a tid to its slot. */
const volatile u32 slot_mask = KDELAY_SLOTS - 1;

/* Who claimed each slot: the test-and-set behind the owner field of the probe's array. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KDELAY_SLOTS);
	__type(key, u32);
	__type(value, u32);
} slot_owner SEC(".maps");

static __always_inline u32 kdelay_slot_index(u32 tid)
{
	return tid & slot_mask;
}

/*
 * Claims the free slot at index for tid: true if this call won it, and
 * then *owner (the slot's owner field in the probe's array) is tid.
 * False if the slot was claimed by another call first, on another CPU.
 */
static __always_inline bool kdelay_slot_claim(u32 index, u32 *owner, u32 tid)
{
	if (bpf_map_update_elem(&slot_owner, &index, &tid, BPF_NOEXIST))
		return false;
	*owner = tid;
	return true;
}

/*
 * After a lost claim: whether the winner claimed it for tid too (a program
 * of the same thread on another CPU, e.g. a wake-up racing a switch).
 */
static __always_inline bool kdelay_slot_claimed_for(u32 index, u32 tid)
{
	u32 *owner = bpf_map_lookup_elem(&slot_owner, &index);

	return owner && *owner == tid;
}

/* Frees the slot at index for another thread to claim (clear the probe's element first). */
static __always_inline void kdelay_slot_release(u32 index)
{
	bpf_map_delete_elem(&slot_owner, &index);
}

#endif /* KDELAY_SLOTS_BPF_H */
