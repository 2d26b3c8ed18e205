/**
 * Trigger syntax, as kernel_delay.py defines it: TYPE:ARGS.
 *
 *   u|usdt:PROVIDER:PROBE      USDT probe in the target's executable
 *   t|trace:SYSTEM:EVENT       kernel tracepoint
 *   k|kprobe:FUNCTION          kernel function entry
 *   kr|kretprobe:FUNCTION      kernel function return
 *   up|uprobe:FUNCTION         function entry in the target's executable
 *   ur|upr|uretprobe:FUNCTION  function return (the reference's docs write
 *                              'upr', which its script rejects; we accept both)
 *   up|ur|...:LIBRARY:FUNCTION the same in a shared library (kdelay's own, as
 *                              bpftrace and BCC write it): LIBRARY is a file
 *                              name the target has mapped (libc.so.6, libc, c)
 *                              or a path (anything with a '/')
 *
 * Pure: text in, Trigger or a UserError (EX_CONFIG) naming the trigger out.
 */
import { ExitCode, UserError } from '../base/exit-codes.js';

export type TriggerKind = 'usdt' | 'tracepoint' | 'kprobe' | 'kretprobe' | 'uprobe' | 'uretprobe';

/** Which option a trigger came from: --start-trigger or --stop-trigger (said in every error). */
export type TriggerRole = 'start' | 'stop';

export interface Trigger {
  /** As the user wrote it, for messages. */
  text: string;
  role?: TriggerRole;
  kind: TriggerKind;
  /** usdt: [provider, probe]; tracepoint: [system, event]; uprobes: [function] or [library, function]; kprobes: [function]. */
  args: string[];
}

/** Prefix -> kind and the numbers of fields it takes after the type (one row per spelling). */
const KINDS: Record<string, { kind: TriggerKind; fields: number | [number, number]; what: string }> = {
  u: { kind: 'usdt', fields: 2, what: 'USDT' },
  usdt: { kind: 'usdt', fields: 2, what: 'USDT' },
  t: { kind: 'tracepoint', fields: 2, what: 'TRACE' },
  trace: { kind: 'tracepoint', fields: 2, what: 'TRACE' },
  k: { kind: 'kprobe', fields: 1, what: 'K(RET)PROBE' },
  kprobe: { kind: 'kprobe', fields: 1, what: 'K(RET)PROBE' },
  kr: { kind: 'kretprobe', fields: 1, what: 'K(RET)PROBE' },
  kretprobe: { kind: 'kretprobe', fields: 1, what: 'K(RET)PROBE' },
  up: { kind: 'uprobe', fields: [1, 2], what: 'U(RET)PROBE' },
  uprobe: { kind: 'uprobe', fields: [1, 2], what: 'U(RET)PROBE' },
  ur: { kind: 'uretprobe', fields: [1, 2], what: 'U(RET)PROBE' },
  upr: { kind: 'uretprobe', fields: [1, 2], what: 'U(RET)PROBE' },
  uretprobe: { kind: 'uretprobe', fields: [1, 2], what: 'U(RET)PROBE' },
};

/** Identifiers the kernel, ELF symbols and USDT notes use; anything else cannot match. */
const NAME = /^[A-Za-z_.$@][\w.$@]*$/;
/** A library's file name (libc.so.6, libstdc++.so.6, c), or a path: anything with a '/' (no ':', which separates fields). */
const LIBRARY = /^([\w.+-]+|[^\0]*\/[^\0]*)$/;

/** "invalid start trigger [TEXT]; REASON", as the reference words it; EX_CONFIG unless said otherwise. */
export function triggerError(trigger: Pick<Trigger, 'text' | 'role'>, reason: string, exitCode: number = ExitCode.CONFIG): UserError {
  return new UserError(`invalid ${trigger.role ? `${trigger.role} ` : ''}trigger [${trigger.text}]; ${reason}`, exitCode);
}

export function parseTrigger(text: string, role?: TriggerRole): Trigger {
  const fields = text.split(':');
  const self = { text, role };
  if (fields.length <= 1) throw triggerError(self, "can't extract probe type, expected TYPE:ARGS");
  const spec = KINDS[fields[0]];
  if (!spec) throw triggerError(self, `invalid probe type '${fields[0]}' (one of ${Object.keys(KINDS).join(', ')})`);
  const args = fields.slice(1);
  const [fewest, most] = typeof spec.fields === 'number' ? [spec.fields, spec.fields] : spec.fields;
  if (args.length < fewest || args.length > most) throw triggerError(self, `invalid number of arguments for ${spec.what}`);
  // up:LIBRARY:FUNCTION: the library is a file name or a path, not an identifier.
  const library = (spec.kind === 'uprobe' || spec.kind === 'uretprobe') && args.length === 2 ? 0 : -1;
  if (library >= 0 && !LIBRARY.test(args[library])) throw triggerError(self, `'${args[library]}' is not a library file name or path`);
  const bad = args.find((a, i) => i !== library && !NAME.test(a));
  if (bad !== undefined) throw triggerError(self, `'${bad}' is not a valid name`);
  return role ? { text, role, kind: spec.kind, args } : { text, kind: spec.kind, args };
}
