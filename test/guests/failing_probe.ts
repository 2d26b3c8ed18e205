// A probe whose init fails after explaining why: ProbeSet must then release
// everything the probes before it had already attached.
import { report_warning } from '../../probes/lib/imports';

export function kdelay_probe_init(): i32 {
  report_warning(memory.data<u8>([0x6e, 0x6f, 0x20, 0x74, 0x61, 0x72, 0x67, 0x65, 0x74, 0])); // "no target"
  return -22; // -EINVAL
}

export function kdelay_probe_collect(): i32 {
  return 0;
}

export function kdelay_probe_reset(): i32 {
  return 0;
}
