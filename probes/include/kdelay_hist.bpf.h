/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * kdelay_hist.bpf.h - log2 histogram buckets (as libbpf-tools' bits.bpf.h).
 */
#ifndef KDELAY_HIST_BPF_H
#define KDELAY_HIST_BPF_H

#include "kdelay_core.bpf.h"

/* log2 of v, capped to the last of `slots` buckets: bucket s counts values in [2^s, 2^(s+1)). */
static __always_inline u32 kdelay_log2_slot(u64 v, u32 slots)
{
	u32 r = 0, shift;

	shift = (v > 0xffffffff) << 5;
	v >>= shift;
	r |= shift;
	shift = (v > 0xffff) << 4;
	v >>= shift;
	r |= shift;
	shift = (v > 0xff) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xf) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	return r < slots ? r : slots - 1;
}

#endif /* KDELAY_HIST_BPF_H */
