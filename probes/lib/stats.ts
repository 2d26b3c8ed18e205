// struct kdelay_stat from probes/include/kdelay_stats.bpf.h, read in place
// through the layout the build generates from its BTF (build/shared.layout.ts).
export {
  KDELAY_STAT_SIZE as STAT_SIZE,
  kdelayStatCount as statCount,
  kdelayStatTotalNs as statTotal,
  kdelayStatMinNs as statMin,
  kdelayStatMaxNs as statMax,
} from './build/shared.layout';
