// trigger probe, user half: enables and attaches the start/stop programs the
// command line asked for. The host has already checked that each target
// exists and resolved how to attach (e.g. fentry where kprobes are missing);
// this guest only falls back from a raw tracepoint to a classic one, which
// it can only learn by trying (syscalls:* events are not raw tracepoints).
//
// Options (strings): trigger.<role>.kind = usdt | uprobe | uretprobe |
// tracepoint | kprobe | kretprobe | fentry | fexit, and trigger.<role>.arg1,
// trigger.<role>.arg2, for role = start and stop.

import { bpf_map_clear } from '../lib/imports';
import { BpfObject, optionString } from '../lib/kdelay';
import { BPF_OBJECT, BPF_OBJECT_SIZE } from './build/trigger.bpf';
import { findMaps } from './build/trigger.layout';

const TYPES = ['usdt', 'uprobe', 'uretprobe', 'raw_tp', 'tp', 'kprobe', 'kretprobe', 'fentry', 'fexit'];
const ROLES = ['start', 'stop'];

let obj: BpfObject | null = null;
/** Loaded by kdelay_probe_load, attached by kdelay_probe_attach; null without triggers. */
let loading: BpfObject | null = null;
let kinds: string[] = [];
/** trigger_claims: which hit won this window's start and stop (see trigger.bpf.c). */
let claimsFd: i32 = -1;

/** The program types a trigger kind needs enabled. */
function programTypes(kind: string): string[] {
  if (kind == 'tracepoint') return ['raw_tp', 'tp'];
  return [kind];
}

function program(type: string, role: string): string {
  return 'trigger_' + type + '_' + role;
}

function attach(o: BpfObject, role: string, kind: string, arg1: string, arg2: string): void {
  if (kind == 'usdt') o.attachUsdt(program('usdt', role), arg1, arg2);
  else if (kind == 'uprobe') o.attachUprobe(program('uprobe', role), false, arg1);
  else if (kind == 'uretprobe') o.attachUprobe(program('uretprobe', role), true, arg1);
  else if (kind == 'kprobe') o.attachKprobe(program('kprobe', role), false, arg1);
  else if (kind == 'kretprobe') o.attachKprobe(program('kretprobe', role), true, arg1);
  else if (kind == 'fentry' || kind == 'fexit')
    o.attach(program(kind, role)); // target set before load
  else if (kind == 'tracepoint') {
    // Raw tracepoints detach in ~1 ms instead of 60-110 ms; syscalls:* have none.
    if (o.tryAttachRawTracepoint(program('raw_tp', role), arg2) < 0) o.attachTracepoint(program('tp', role), arg1, arg2);
  }
}

// The host runs every probe's kdelay_probe_load, loads their objects one
// after another (host/libbpf/libbpf-backend.ts: load), then runs every
// kdelay_probe_attach; kdelay_probe_init is the two in a row, for a host
// that knows only it.
export function kdelay_probe_load(): i32 {
  kinds = new Array<string>(ROLES.length);
  let any = false;
  for (let r = 0; r < ROLES.length; r++) {
    kinds[r] = optionString('trigger.' + ROLES[r] + '.kind');
    if (kinds[r].length) any = true;
  }
  if (!any) return 0; // no triggers: load nothing

  const o = BpfObject.openProbe(BPF_OBJECT, BPF_OBJECT_SIZE);
  o.shareMap('kdelay_trigger_events');
  for (let t = 0; t < TYPES.length; t++) {
    for (let r = 0; r < ROLES.length; r++) o.setAutoload(program(TYPES[t], ROLES[r]), false);
  }
  for (let r = 0; r < ROLES.length; r++) {
    const kind = kinds[r];
    if (!kind.length) continue;
    const types = programTypes(kind);
    for (let t = 0; t < types.length; t++) o.setAutoload(program(types[t], ROLES[r]), true);
    if (kind == 'fentry' || kind == 'fexit') {
      o.setAttachTarget(program(kind, ROLES[r]), optionString('trigger.' + ROLES[r] + '.arg1'));
    }
  }
  o.load();
  loading = o;
  return o.result();
}

export function kdelay_probe_attach(): i32 {
  if (!loading) return 0; // no triggers: nothing loaded
  const o = loading!;
  for (let r = 0; r < ROLES.length; r++) {
    if (!kinds[r].length) continue;
    const role = ROLES[r];
    attach(o, role, kinds[r], optionString('trigger.' + role + '.arg1'), optionString('trigger.' + role + '.arg2'));
  }
  // Its programs attach with the arguments above, each its own way: only the maps are found in one call.
  claimsFd = findMaps(o).triggerClaims.fd;
  obj = o;
  if (o.error) return o.result();
  return 0;
}

export function kdelay_probe_init(): i32 {
  const err = kdelay_probe_load();
  return err < 0 ? err : kdelay_probe_attach();
}

export function kdelay_probe_collect(): i32 {
  return 0; // no report sections: the host reads trigger hits from its ring buffer
}

/** Called after reporting, before the host sets the gate back to IDLE: the next window's moves are free again. */
export function kdelay_probe_reset(): i32 {
  return claimsFd < 0 ? 0 : bpf_map_clear(claimsFd);
}
