// upcall probe, user half: UPCALL STATISTICS rows (system-wide, per CPU).
// The host loads this probe only if the kernel has ovs_dp_upcall, and says
// how to attach (option upcall.attach: kretprobe or fexit).

import { BpfObject, cstr, MapSnapshot, optionString, RowBatch, warnIfMapsWereFull } from "../lib/kdelay";
import { BPF_OBJECT, BPF_OBJECT_SIZE } from "./build/upcall.bpf";

const ENTRIES = 4096;
const KEY_SIZE = 8; // struct upcall_key { u32 cpu; s32 ret; }

let results!: MapSnapshot;
let rows!: RowBatch;
let mapFullFd: i32 = -1;
const labels = new Map<string, usize>();

export function kdelay_probe_init(): i32 {
  const how = optionString("upcall.attach");
  const program = how == "fexit" ? "upcall_fexit" : "upcall_kretprobe";
  const obj = BpfObject.openProbe(BPF_OBJECT, BPF_OBJECT_SIZE);
  obj.setAutoload(how == "fexit" ? "upcall_kretprobe" : "upcall_fexit", false);
  obj.load();
  obj.attach(program);
  const fd = obj.mapFd("upcall_results");
  mapFullFd = obj.mapFd("kdelay_map_full");
  if (obj.error) return obj.result();
  results = new MapSnapshot(fd, KEY_SIZE, 8, ENTRIES);
  rows = new RowBatch(cstr("upcall"), 2);
  return 0;
}

/** Names of the errors ovs_dp_upcall returns in practice (anything else: "errno N"). */
function errnoName(errno: i32): string {
  switch (errno) {
    case 1: return "EPERM";
    case 2: return "ENOENT";
    case 11: return "EAGAIN";
    case 12: return "ENOMEM";
    case 19: return "ENODEV";
    case 22: return "EINVAL";
    case 27: return "EFBIG";
    case 28: return "ENOSPC";
    case 90: return "EMSGSIZE";
    case 105: return "ENOBUFS";
    case 107: return "ENOTCONN";
    case 111: return "ECONNREFUSED";
    default: return "errno " + errno.toString();
  }
}

/** A NUL-terminated copy of text, made once per distinct label (labels must outlive flush()). */
function label(text: string): usize {
  if (!labels.has(text)) labels.set(text, cstr(text));
  return labels.get(text);
}

/** Rows per CPU: total, successful, failed, then one per error, as the reference lists them. */
export function kdelay_probe_collect(): i32 {
  const err = results.read();
  if (err < 0) return err;
  const cpus = new Set<u32>();
  for (let i = 0; i < results.count; i++) cpus.add(load<u32>(results.key(i), 0));
  const cpuList = cpus.values().sort((a: u32, b: u32): i32 => <i32>a - <i32>b);
  for (let c = 0; c < cpuList.length; c++) {
    const cpu = cpuList[c];
    let ok: u64 = 0;
    let failed: u64 = 0;
    for (let i = 0; i < results.count; i++) {
      if (load<u32>(results.key(i), 0) != cpu) continue;
      if (load<i32>(results.key(i), 4) == 0) ok += load<u64>(results.value(i));
      else failed += load<u64>(results.value(i));
    }
    rows.row(0, label("Total upcalls")).add(cpu).add(ok + failed);
    rows.row(0, label("Successful upcalls")).add(cpu).add(ok);
    rows.row(0, label("Failed upcalls")).add(cpu).add(failed);
    for (let i = 0; i < results.count; i++) {
      const ret = load<i32>(results.key(i), 4);
      if (load<u32>(results.key(i), 0) != cpu || ret == 0) continue;
      rows.row(0, label("  " + errnoName(-ret))).add(cpu).add(load<u64>(results.value(i)));
    }
  }
  warnIfMapsWereFull(mapFullFd, "upcall");
  return rows.flush();
}

export function kdelay_probe_reset(): i32 {
  return results.clear();
}
