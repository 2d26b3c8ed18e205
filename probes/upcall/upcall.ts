// upcall probe, user half: UPCALL STATISTICS rows (system-wide, per CPU).
// The host loads this probe only if the kernel has ovs_dp_upcall, and says
// how to attach (option upcall.attach: kretprobe or fexit).

import { BpfObject, cstr, MapSnapshot, optionString, RowBatch, warnIfMapsWereFull } from '../lib/kdelay';
import { BPF_OBJECT, BPF_OBJECT_SIZE } from './build/upcall.bpf';
import { attachAll, Maps, upcallKeyCpu, upcallKeyRet, upcallResultsValue } from './build/upcall.layout';

let obj!: BpfObject;
let maps!: Maps;
let results!: MapSnapshot;
let rows!: RowBatch;
const labels = new Map<string, usize>();

// The host runs every probe's kdelay_probe_load, loads their objects one
// after another (host/libbpf/libbpf-backend.ts: load), then runs every
// kdelay_probe_attach; kdelay_probe_init is the two in a row, for a host
// that knows only it.
export function kdelay_probe_load(): i32 {
  obj = BpfObject.openProbe(BPF_OBJECT, BPF_OBJECT_SIZE);
  // The host says how this kernel reaches ovs_dp_upcall's return: only that program loads and attaches.
  obj.setAutoload(optionString('upcall.attach') == 'fexit' ? 'upcall_kretprobe' : 'upcall_fexit', false);
  obj.load();
  return obj.result();
}

export function kdelay_probe_attach(): i32 {
  maps = attachAll(obj);
  if (obj.error) return obj.result();
  results = maps.upcallResults.snapshot();
  rows = new RowBatch(cstr('upcall'), 2);
  return 0;
}

export function kdelay_probe_init(): i32 {
  const err = kdelay_probe_load();
  return err < 0 ? err : kdelay_probe_attach();
}

/**
 * Linux errno names by number, as Python's errno.errorcode spells them (the
 * reference prints those): where two names share a number, Python's pick.
 */
const ERRNO_NAMES: string[] = [
  '',
  'EPERM',
  'ENOENT',
  'ESRCH',
  'EINTR',
  'EIO',
  'ENXIO',
  'E2BIG',
  'ENOEXEC',
  'EBADF',
  'ECHILD',
  'EAGAIN',
  'ENOMEM',
  'EACCES',
  'EFAULT',
  'ENOTBLK',
  'EBUSY',
  'EEXIST',
  'EXDEV',
  'ENODEV',
  'ENOTDIR',
  'EISDIR',
  'EINVAL',
  'ENFILE',
  'EMFILE',
  'ENOTTY',
  'ETXTBSY',
  'EFBIG',
  'ENOSPC',
  'ESPIPE',
  'EROFS',
  'EMLINK',
  'EPIPE',
  'EDOM',
  'ERANGE',
  'EDEADLOCK',
  'ENAMETOOLONG',
  'ENOLCK',
  'ENOSYS',
  'ENOTEMPTY',
  'ELOOP',
  '',
  'ENOMSG',
  'EIDRM',
  'ECHRNG',
  'EL2NSYNC',
  'EL3HLT',
  'EL3RST',
  'ELNRNG',
  'EUNATCH',
  'ENOCSI',
  'EL2HLT',
  'EBADE',
  'EBADR',
  'EXFULL',
  'ENOANO',
  'EBADRQC',
  'EBADSLT',
  '',
  'EBFONT',
  'ENOSTR',
  'ENODATA',
  'ETIME',
  'ENOSR',
  'ENONET',
  'ENOPKG',
  'EREMOTE',
  'ENOLINK',
  'EADV',
  'ESRMNT',
  'ECOMM',
  'EPROTO',
  'EMULTIHOP',
  'EDOTDOT',
  'EBADMSG',
  'EOVERFLOW',
  'ENOTUNIQ',
  'EBADFD',
  'EREMCHG',
  'ELIBACC',
  'ELIBBAD',
  'ELIBSCN',
  'ELIBMAX',
  'ELIBEXEC',
  'EILSEQ',
  'ERESTART',
  'ESTRPIPE',
  'EUSERS',
  'ENOTSOCK',
  'EDESTADDRREQ',
  'EMSGSIZE',
  'EPROTOTYPE',
  'ENOPROTOOPT',
  'EPROTONOSUPPORT',
  'ESOCKTNOSUPPORT',
  'ENOTSUP',
  'EPFNOSUPPORT',
  'EAFNOSUPPORT',
  'EADDRINUSE',
  'EADDRNOTAVAIL',
  'ENETDOWN',
  'ENETUNREACH',
  'ENETRESET',
  'ECONNABORTED',
  'ECONNRESET',
  'ENOBUFS',
  'EISCONN',
  'ENOTCONN',
  'ESHUTDOWN',
  'ETOOMANYREFS',
  'ETIMEDOUT',
  'ECONNREFUSED',
  'EHOSTDOWN',
  'EHOSTUNREACH',
  'EALREADY',
  'EINPROGRESS',
  'ESTALE',
  'EUCLEAN',
  'ENOTNAM',
  'ENAVAIL',
  'EISNAM',
  'EREMOTEIO',
  'EDQUOT',
  'ENOMEDIUM',
  'EMEDIUMTYPE',
  'ECANCELED',
  'ENOKEY',
  'EKEYEXPIRED',
  'EKEYREVOKED',
  'EKEYREJECTED',
  'EOWNERDEAD',
  'ENOTRECOVERABLE',
  'ERFKILL',
  '',
];

function errnoName(errno: i32): string {
  return errno > 0 && errno < ERRNO_NAMES.length && ERRNO_NAMES[errno].length > 0 ? ERRNO_NAMES[errno] : '_unknown_';
}

/** Right-aligns n in width characters, as Python's "{:3}" does. */
function padStart(text: string, width: i32): string {
  let out = text;
  while (out.length < width) out = ' ' + out;
  return out;
}

function padEnd(text: string, width: i32): string {
  let out = text;
  while (out.length < width) out += ' ';
  return out;
}

/** A NUL-terminated copy of text, made once per distinct label (labels must outlive flush()). */
function label(text: string): usize {
  if (!labels.has(text)) labels.set(text, cstr(text));
  return labels.get(text);
}

/**
 * The reference's UPCALL STATISTICS lines, as (label, cpu, count) rows the
 * host's 'per-cpu' layout prints as `  LABEL: TOTAL [CPU: N, ...]`:
 * Total upcalls; then, only when some failed, Successfull (sic, as the
 * reference) and Failed upcalls and one line per errno in ascending order.
 * Nothing at all when there were no upcalls, like the reference.
 */
export function kdelay_probe_collect(): i32 {
  const err = results.read();
  if (err < 0) return err;
  let anyFailed = false;
  for (let i = 0; i < results.count; i++) {
    if (upcallKeyRet(results.key(i)) != 0 && upcallResultsValue(results.value(i)) > 0) anyFailed = true;
  }
  for (let i = 0; i < results.count; i++)
    rows
      .row(0, label('Total upcalls'))
      .add(upcallKeyCpu(results.key(i)))
      .add(upcallResultsValue(results.value(i)));
  if (anyFailed) {
    for (let i = 0; i < results.count; i++) {
      if (upcallKeyRet(results.key(i)) == 0)
        rows
          .row(0, label('Successfull upcalls'))
          .add(upcallKeyCpu(results.key(i)))
          .add(upcallResultsValue(results.value(i)));
    }
    for (let i = 0; i < results.count; i++) {
      if (upcallKeyRet(results.key(i)) != 0)
        rows
          .row(0, label('Failed upcalls'))
          .add(upcallKeyCpu(results.key(i)))
          .add(upcallResultsValue(results.value(i)));
    }
    // Error lines by errno, ascending (the map's order is a hash's).
    const errnos = new Set<i32>();
    for (let i = 0; i < results.count; i++) {
      const ret = upcallKeyRet(results.key(i));
      if (ret != 0) errnos.add(-ret);
    }
    const sorted = errnos.values().sort((a: i32, b: i32): i32 => a - b);
    for (let e = 0; e < sorted.length; e++) {
      const text = '  ' + padStart(sorted[e].toString(), 3) + ', ' + padEnd(errnoName(sorted[e]), 13);
      for (let i = 0; i < results.count; i++) {
        if (-upcallKeyRet(results.key(i)) == sorted[e])
          rows
            .row(0, label(text))
            .add(upcallKeyCpu(results.key(i)))
            .add(upcallResultsValue(results.value(i)));
      }
    }
  }
  warnIfMapsWereFull(maps.kdelayMapFull.fd, 'upcall');
  return rows.flush();
}

export function kdelay_probe_reset(): i32 {
  return results.clear();
}
