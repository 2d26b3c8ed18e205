/**
 * The two layouts of the text report. `reference` is kernel_delay.py's,
 * byte for byte, for its users' scripts and eyes. `text`, the default, is the
 * same tables for a reader who has not used the reference: a target that is
 * not Open vSwitch gets no UPCALL lines, a window in which no thread showed
 * up says so in one line, a section a thread always shows (SYSCALL
 * STATISTICS) says "none" instead of an empty column header, and on a
 * terminal a line on stderr points to `kdelay help legend` once. What is
 * printed on stdout never depends on whether it is a terminal. Pure.
 */
import { isThreadTable, type SectionSpec } from '../bundle/manifest.js';
import type { SampleTables } from '../model/section-table.js';
import { printable } from '../base/printable.js';
import { OPEN_VSWITCH_DAEMON } from '../base/open-vswitch.js';

export type TextLayout = 'text' | 'reference';

/** What the `text` layout needs besides the sample (the `reference` layout needs none of it). */
export interface TextStyle {
  layout: TextLayout;
  /** The target: its PID as the user numbers it and its name (comm) when the run began. */
  target: { pid: number; command: string };
  /** Writes a line for a reader at a terminal (stderr, dim); undefined when stdout and stderr are not both terminals. */
  terminalHint?: (line: string) => void;
}

/**
 * Sections about Open vSwitch only: the built-in upcall probe's datapath
 * statistics (system-wide), by id and by title. The title too: when the
 * probe is not available it runs no section, and only its "not available"
 * line, by title, is left to leave out (test/unit/text-style.test.ts keeps
 * both equal to probes/upcall/manifest.json).
 */
export const OPEN_VSWITCH_SECTIONS: readonly { id: string; title: string }[] = [{ id: 'upcall', title: 'UPCALL STATISTICS' }];

/**
 * Whether the target is Open vSwitch, for the `text` layout's UPCALL lines:
 * its main thread's name contains `ovs-vswitchd`, the same test that finds
 * it when no -p is given. (Not the kernel datapath's presence: the
 * openvswitch module serves every process on the machine, and its upcalls
 * say nothing about another target. Nor symbols in the target's binary:
 * distributions strip them, and USDT points exist only in builds with
 * --enable-usdt-probes.) The name is what the run and its recording both
 * know, so `kdelay report FILE` decides the same way.
 */
export function isOpenVswitch(command: string): boolean {
  return command.includes(OPEN_VSWITCH_DAEMON);
}

/** The sections the `text` layout leaves out for this target: their tables by id, their "not available" lines by title. */
export function sectionsLeftOut(command: string): { ids: Set<string>; titles: Set<string> } {
  const out = isOpenVswitch(command) ? [] : OPEN_VSWITCH_SECTIONS;
  return { ids: new Set(out.map((s) => s.id)), titles: new Set(out.map((s) => s.title)) };
}

/** Whether no thread has a row in any section the table shows: the table would be its header alone. */
export function noThreadRows(sections: SectionSpec[], tables: SampleTables): boolean {
  return sections.filter(isThreadTable).every((s) => (tables.get(s.id)?.count ?? 0) === 0);
}

/**
 * The line that replaces an empty table: that no window opened, or what the running probes would have
 * seen a thread do, said in words (the built-in syscalls and sched probes'
 * sections; any other probe's, as "shows in the report").
 */
export function idleLine(sections: SectionSpec[], target: { pid: number; command: string }, windowNs: number): string | undefined {
  const ids = new Set(sections.filter(isThreadTable).map((s) => s.id));
  if (ids.size === 0) return undefined;
  // Ctrl-C before the start trigger: no window opened (the reference prints an empty table).
  if (windowNs <= 0) return '# Empty window: the run ended before a trigger opened one';
  const did = [...(ids.has('run') ? ['ran on a CPU'] : []), ...(ids.has('syscalls') ? ['made a system call'] : [])];
  const what = did.length ? did.join(' or ') : 'shows in the report';
  return `# Idle: no measured thread of process ${target.pid} (${printable(target.command)}) ${what} in this window`;
}

/** In the `text` layout, a section a thread always shows (SYSCALL STATISTICS), without rows: this line instead of its column header. */
export const NONE_IN_WINDOW = 'none in this window';

/** The `text` layout's pointer to the legend, once, after the first table on a terminal. */
export const LEGEND_HINT = 'kdelay help legend explains these sections';
