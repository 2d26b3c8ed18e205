// struct kdelay_stat from probes/include/kdelay_stats.bpf.h, read in place.
export const STAT_SIZE: i32 = 32;

export function statCount(p: usize): u64 { return load<u64>(p, 0); }
export function statTotal(p: usize): u64 { return load<u64>(p, 8); }
export function statMin(p: usize): u64 { return load<u64>(p, 16); }
export function statMax(p: usize): u64 { return load<u64>(p, 24); }
