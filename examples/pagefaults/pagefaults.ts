// pagefaults probe, user half: one PAGE FAULT STATISTICS row per thread.
// Everything here comes from kdelay's probe library (probes/lib): see
// probes/README.md, the authoring guide.

import { BpfObject, cstr, MapSnapshot, RowBatch, warnIfMapsWereFull } from "../../probes/lib/kdelay";
import { BPF_OBJECT, BPF_OBJECT_SIZE } from "./build/pagefaults.bpf";

const ENTRIES = 16384;

let counts!: MapSnapshot;
let rows!: RowBatch;
let mapFullFd: i32 = -1;

export function kdelay_probe_init(): i32 {
  const obj = BpfObject.openProbe(BPF_OBJECT, BPF_OBJECT_SIZE);
  obj.load();
  obj.attach("pagefaults_user");
  const fd = obj.mapFd("fault_counts");
  mapFullFd = obj.mapFd("kdelay_map_full");
  if (obj.error) return obj.result();
  counts = new MapSnapshot(fd, 4, 16, ENTRIES);
  rows = new RowBatch(cstr("pagefaults"), 2);
  return 0;
}

export function kdelay_probe_collect(): i32 {
  const err = counts.read();
  if (err < 0) return err;
  for (let i = 0; i < counts.count; i++) {
    const value = counts.value(i);
    rows.row(load<u32>(counts.key(i)), 0).add(load<u64>(value, 0)).add(load<u64>(value, 8));
  }
  warnIfMapsWereFull(mapFullFd, "pagefaults");
  return rows.flush();
}

export function kdelay_probe_reset(): i32 {
  return counts.clear();
}
