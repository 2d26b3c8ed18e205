// __NAME__ probe, user half: reads the per-thread map after each window and
// hands one row per thread to kdelay, which lays out the section from
// manifest.json. Everything used here is kdelay's probe library
// (probes/lib): see probes/README.md, the authoring guide.

import { BpfObject, cstr, MapSnapshot, RowBatch, warnIfMapsWereFull } from "../../probes/lib/kdelay";
import { BPF_OBJECT, BPF_OBJECT_SIZE } from "./build/__NAME__.bpf";

const ENTRIES = 16384; // max_entries of __NAME___counts

let counts!: MapSnapshot;
let rows!: RowBatch;
let mapFullFd: i32 = -1;

export function kdelay_probe_init(): i32 {
  const obj = BpfObject.openProbe(BPF_OBJECT, BPF_OBJECT_SIZE);
  obj.load();
  obj.attach("__NAME___wakeup");
  const fd = obj.mapFd("__NAME___counts");
  mapFullFd = obj.mapFd("kdelay_map_full");
  if (obj.error) return obj.result();
  counts = new MapSnapshot(fd, 4, 8, ENTRIES);
  rows = new RowBatch(cstr("__NAME__"), 1); // section id, numbers per row
  return 0;
}

export function kdelay_probe_collect(): i32 {
  const err = counts.read();
  if (err < 0) return err;
  for (let i = 0; i < counts.count; i++) {
    rows.row(load<u32>(counts.key(i)), 0).add(load<u64>(counts.value(i)));
  }
  warnIfMapsWereFull(mapFullFd, "__NAME__");
  return rows.flush();
}

export function kdelay_probe_reset(): i32 {
  return counts.clear();
}
