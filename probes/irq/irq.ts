// irq probe, user half: configures and attaches irq.bpf.c, then turns its
// maps into HARD IRQ STATISTICS and SOFT IRQ STATISTICS rows.

import { BpfObject, cstr, MapSnapshot, RowBatch, threadRows, warnIfMapsWereFull } from '../lib/kdelay';
import { statCount, statMax, statTotal } from '../lib/stats';
import { BPF_OBJECT, BPF_OBJECT_SIZE } from './build/irq.bpf';
import { attachAll, HARDIRQ_KEY_NAME_LENGTH, HARDIRQ_KEY_NAME_OFFSET, hardirqKeyTid, Maps, softirqKeyTid, softirqKeyVecNr } from './build/irq.layout';

const IRQ_NAME_LEN = HARDIRQ_KEY_NAME_LENGTH;

let obj!: BpfObject;
let maps!: Maps;
let hardStats!: MapSnapshot;
let softStats!: MapSnapshot;
let hardRows!: RowBatch;
let softRows!: RowBatch;

/*
 * Labels are cached for the life of the probe, one per distinct IRQ name and
 * softirq vector, so collecting allocates nothing once the names are known
 * (the stub runtime never frees). A system has a bounded set of both.
 */
/** FNV-1a of the 32 name bytes -> index into nameLabels. */
const nameIndex = new Map<u64, i32>();
/** Each label is a copy of the key's name bytes plus a NUL, so it stays valid after the next map read. */
const nameLabels = new Array<usize>();
const vecLabels = new Map<u32, usize>();

// The kernel's softirq_to_name[], as the reference prints it.
const VEC_NAMES: string[] = ['hi', 'timer', 'net_tx', 'net_rx', 'block', 'irq_poll', 'tasklet', 'sched', 'hrtimer', 'rcu'];

// The host runs every probe's kdelay_probe_load, loads their objects one
// after another (host/libbpf/libbpf-backend.ts: load), then runs every
// kdelay_probe_attach; kdelay_probe_init is the two in a row, for a host
// that knows only it.
export function kdelay_probe_load(): i32 {
  // A thread on the CPU meets few distinct IRQs and softirq vectors in a window: 2 rows each (threadRows).
  const entries = threadRows('irq.max_entries', 'irq.target_threads', 2);
  obj = BpfObject.openProbe(BPF_OBJECT, BPF_OBJECT_SIZE);
  obj.setMaxEntries('hardirq_stats', entries);
  obj.setMaxEntries('softirq_stats', entries);
  obj.load();
  return obj.result();
}

export function kdelay_probe_attach(): i32 {
  maps = attachAll(obj);
  if (obj.error) return obj.result();
  hardStats = maps.hardirqStats.snapshot();
  softStats = maps.softirqStats.snapshot();
  hardRows = new RowBatch(cstr('hardirq'), 3);
  softRows = new RowBatch(cstr('softirq'), 4);
  return 0;
}

export function kdelay_probe_init(): i32 {
  const err = kdelay_probe_load();
  return err < 0 ? err : kdelay_probe_attach();
}

function fnv1a(p: usize, len: i32): u64 {
  let h: u64 = 0xcbf29ce484222325;
  for (let i = 0; i < len; i++) h = (h ^ (<u64>load<u8>(p + <usize>i))) * 0x100000001b3;
  return h;
}

/** The label for the NUL-terminated, zero-padded IRQ name at p (IRQ_NAME_LEN bytes). */
function nameLabel(p: usize): usize {
  const h = fnv1a(p, IRQ_NAME_LEN);
  if (nameIndex.has(h)) {
    const label = nameLabels[nameIndex.get(h)];
    if (memory.compare(label, p, IRQ_NAME_LEN) == 0) return label;
    // A hash collision: look through every name (never happens in practice).
    for (let i = 0; i < nameLabels.length; i++) {
      if (memory.compare(nameLabels[i], p, IRQ_NAME_LEN) == 0) return nameLabels[i];
    }
  }
  const label = changetype<usize>(new ArrayBuffer(IRQ_NAME_LEN + 1));
  memory.copy(label, p, IRQ_NAME_LEN);
  store<u8>(label + IRQ_NAME_LEN, 0); // the BPF side NUL-terminates; this makes sure of it
  if (!nameIndex.has(h)) nameIndex.set(h, nameLabels.length);
  nameLabels.push(label);
  return label;
}

/** The softirq vector's name, or "<unknown:N>". */
function vecLabel(vec: u32): usize {
  if (vecLabels.has(vec)) return vecLabels.get(vec);
  const label = cstr(vec < <u32>VEC_NAMES.length ? VEC_NAMES[vec] : '<unknown:' + vec.toString() + '>');
  vecLabels.set(vec, label);
  return label;
}

export function kdelay_probe_collect(): i32 {
  let err = hardStats.read();
  if (err < 0) return err;
  for (let i = 0; i < hardStats.count; i++) {
    const key = hardStats.key(i);
    const stat = hardStats.value(i);
    hardRows
      .row(hardirqKeyTid(key), nameLabel(key + HARDIRQ_KEY_NAME_OFFSET))
      .add(statCount(stat))
      .add(statTotal(stat))
      .add(statMax(stat));
  }
  err = hardRows.flush();
  if (err < 0) return err;

  err = softStats.read();
  if (err < 0) return err;
  for (let i = 0; i < softStats.count; i++) {
    const key = softStats.key(i);
    const stat = softStats.value(i);
    const vec = softirqKeyVecNr(key);
    softRows.row(softirqKeyTid(key), vecLabel(vec)).add(vec).add(statCount(stat)).add(statTotal(stat)).add(statMax(stat));
  }
  err = softRows.flush();
  if (err < 0) return err;

  warnIfMapsWereFull(maps.kdelayMapFull.fd, 'irq');
  return 0;
}

export function kdelay_probe_reset(): i32 {
  // The per-CPU start slots are left alone: the BPF side ignores stamps
  // older than the current window, so they cannot leak into the next sample.
  const err = hardStats.clear();
  return err < 0 ? err : softStats.clear();
}
