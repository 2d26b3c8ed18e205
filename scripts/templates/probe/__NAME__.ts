// __NAME__ probe, user half: reads the per-thread map after each window and
// hands one row per thread to kdelay, which lays out the section from
// manifest.json. Everything used here is kdelay's probe library
// (probes/lib): see probes/README.md, the authoring guide.

import { BpfObject, cstr, MapSnapshot, RowBatch, warnIfMapsWereFull } from '../../probes/lib/kdelay';
import { BPF_OBJECT, BPF_OBJECT_SIZE } from './build/__NAME__.bpf';
// Sizes and readers of what the kernel half declares, generated from its BTF by the build.
import { __UPPER___COUNTS_KEY_SIZE, __UPPER___COUNTS_MAX_ENTRIES, __UPPER___COUNTS_VALUE_SIZE, __CAMEL__CountsKey, __CAMEL__CountsValue } from './build/__NAME__.layout';

let counts!: MapSnapshot;
let rows!: RowBatch;
let mapFullFd: i32 = -1;

export function kdelay_probe_init(): i32 {
  const obj = BpfObject.openProbe(BPF_OBJECT, BPF_OBJECT_SIZE);
  obj.load();
  obj.attach('__NAME___wakeup');
  const fd = obj.mapFd('__NAME___counts');
  mapFullFd = obj.mapFd('kdelay_map_full');
  if (obj.error) return obj.result();
  counts = new MapSnapshot(fd, __UPPER___COUNTS_KEY_SIZE, __UPPER___COUNTS_VALUE_SIZE, __UPPER___COUNTS_MAX_ENTRIES);
  rows = new RowBatch(cstr('__NAME__'), 1); // section id, numbers per row
  return 0;
}

export function kdelay_probe_collect(): i32 {
  const err = counts.read();
  if (err < 0) return err;
  for (let i = 0; i < counts.count; i++) {
    rows.row(__CAMEL__CountsKey(counts.key(i)), 0).add(__CAMEL__CountsValue(counts.value(i)));
  }
  warnIfMapsWereFull(mapFullFd, '__NAME__');
  return rows.flush();
}

export function kdelay_probe_reset(): i32 {
  return counts.clear();
}
