// __NAME__ probe, user half: reads the per-thread map after each window and
// hands one row per thread to kdelay, which lays out the section from
// manifest.json. Everything used here is kdelay's probe library
// (probes/lib): see probes/README.md, the authoring guide.

import { BpfObject, cstr, MapSnapshot, RowBatch, warnIfMapsWereFull } from '../../probes/lib/kdelay';
import { BPF_OBJECT, BPF_OBJECT_SIZE } from './build/__NAME__.bpf';
// Generated from the kernel half by the build: attachAll() and its Maps, and readers of what the C declares.
import { attachAll, Maps, __CAMEL__CountsKey, __CAMEL__CountsValue } from './build/__NAME__.layout';

let maps!: Maps;
let counts!: MapSnapshot;
let rows!: RowBatch;

export function kdelay_probe_init(): i32 {
  const obj = BpfObject.openProbe(BPF_OBJECT, BPF_OBJECT_SIZE);
  obj.load();
  maps = attachAll(obj); // every program of __NAME__.bpf.c, and its maps by name
  if (obj.error) return obj.result();
  counts = maps.__CAMEL__Counts.snapshot();
  rows = new RowBatch(cstr('__NAME__'), 1); // section id, numbers per row
  return 0;
}

export function kdelay_probe_collect(): i32 {
  const err = counts.read();
  if (err < 0) return err;
  for (let i = 0; i < counts.count; i++) {
    rows.row(__CAMEL__CountsKey(counts.key(i)), 0).add(__CAMEL__CountsValue(counts.value(i)));
  }
  warnIfMapsWereFull(maps.kdelayMapFull.fd, '__NAME__');
  return rows.flush();
}

export function kdelay_probe_reset(): i32 {
  return counts.clear();
}
