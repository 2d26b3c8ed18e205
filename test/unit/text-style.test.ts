/**
 * The two text layouts (host/report/text-style.ts): `--format reference` is
 * kernel_delay.py's, byte for byte (test/fixtures/reference-layout.txt, from
 * its format strings), and the default `text` differs from it only where a
 * newcomer would be lost: an empty SYSCALL STATISTICS header, an empty
 * table, UPCALL lines for a target that is not Open vSwitch, and (on a
 * terminal, on stderr) one pointer to the legend.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../host/bundle/manifest.js';
import { type SampleTables, tableFor } from '../../host/model/section-table.js';
import type { ReportSample } from '../../host/model/sample.js';
import { OUTPUT_FORMATS } from '../../host/report/sinks.js';
import { isOpenVswitch, LEGEND_HINT, OPEN_VSWITCH_SECTIONS } from '../../host/report/text-style.js';

const ROOT = join(import.meta.dirname, '..', '..');
const probeManifest = (name: string) => parseManifest(readFileSync(join(ROOT, 'probes', name, 'manifest.json'), 'utf8'), name);
const sections = [...probeManifest('syscalls').sections, ...probeManifest('sched').sections, ...probeManifest('upcall').sections];
const reference = readFileSync(join(ROOT, 'test', 'fixtures', 'reference-layout.txt'), 'utf8');

type Row = [section: string, tid: number, label: string | undefined, ...values: number[]];
function tables(rows: Row[]): SampleTables {
  const out: SampleTables = new Map();
  for (const [section, tid, label, ...values] of rows) tableFor(out, section, values.length).add(tid, label, values);
  return out;
}
// The data of test/fixtures/reference-layout.txt (test/unit/format.test.ts has it out of order); zz-idle made no system call.
const rows: Row[] = [
  ['syscalls', 31741, 'poll', 7, 5, 184193176, 184191520],
  ['syscalls', 31741, 'recvmsg', 47, 494, 125208756, 310331],
  ['syscalls', 31741, 'futex', 202, 8, 18768758, 4023039],
  ['syscalls', 31741, 'sendto', 44, 10, 375861, 266867],
  ['syscalls', 31741, 'sendmsg', 46, 4, 43294, 11213],
  ['syscalls', 31741, 'write', 1, 1, 5949, 5949],
  ['syscalls', 31741, 'getrusage', 98, 1, 1424, 1424],
  ['syscalls', 31741, 'read', 0, 1, 1292, 1292],
  ['syscalls', 31750, 'poll', 7, 1, 1000, 1000],
  ['long_poll', 31741, undefined, 4, 46048294, 1021, 184191520],
  ['long_poll', 31760, undefined, 1, 5, 5, 5],
  ['stopped', 31741, undefined, 3, 3045728323, 1015739474],
  ['run', 31741, undefined, 6, 136764071, 1480, 115146424],
  ['ready', 31741, undefined, 7, 11334, 6636],
  ['partial_run', 31760, undefined, 1, 500123456],
];
const names: Record<number, string> = { 31741: 'revalidator122', 31750: '<unknown:31700/31750>', 31760: 'zz-idle' };
const upcallNote = { section: 'UPCALL STATISTICS', reason: 'the openvswitch kernel module is not loaded' };

/** What a sink prints for these samples: stdout's text, and the hints a terminal would show. */
function render(format: 'text' | 'reference', command: string, samples: Omit<ReportSample, 'warnings'>[], windowNs = 500_000_000) {
  let stdout = '';
  const hints: string[] = [];
  const sink = OUTPUT_FORMATS[format].create({
    sections,
    threadName: (tid) => names[tid] ?? `t${tid}`,
    print: (line) => (stdout += `${line}\n`),
    write: (bytes) => ((stdout += Buffer.from(bytes).toString()), true),
    target: { pid: 31700, command },
    terminalHint: (line) => hints.push(line),
  });
  samples.forEach((sample, i) => sink.sample(i + 1, { warnings: [], ...sample }, 0, windowNs));
  // The dump line's local time is not the point here.
  return { stdout: stdout.replace(/^# Sample dump @.*\n/gm, ''), hints };
}

describe('--format reference', () => {
  it("is kernel_delay.py's layout byte for byte, UPCALL line and empty header included, for any target, and never hints", () => {
    const { stdout, hints } = render('reference', 'sleep', [{ tables: tables(rows), notes: [upcallNote] }]);
    expect(stdout).toBe(`${reference}\n# UPCALL STATISTICS: not available (the openvswitch kernel module is not loaded)\n`);
    expect(hints).toEqual([]);
  });

  it('prints the header alone for an idle target, as the reference does', () => {
    expect(render('reference', 'sleep', [{ tables: new Map() }]).stdout).toBe(`${reference.split('\n').slice(0, 2).join('\n')}\n`);
  });
});

describe('the default text layout', () => {
  it("is the reference's layout but for one line: a thread's empty SYSCALL STATISTICS says none instead of its column header", () => {
    const { stdout } = render('text', 'ovs-vswitchd', [{ tables: tables(rows) }]);
    const header = '                            NAME                 NUMBER       COUNT          TOTAL ns            MAX ns';
    const zz = '     31760 zz-idle          [SYSCALL STATISTICS]\n';
    expect(reference).toContain(`${zz}${header}\n`);
    expect(stdout).toBe(reference.replace(`${zz}${header}\n`, `${zz}                            none in this window\n`));
  });

  it('leaves UPCALL out (its table or its not-available line) unless the target is ovs-vswitchd', () => {
    const upcall = tables([['upcall', 0, 'Total upcalls', 3, 7]]);
    const withUpcall = (command: string) => render('text', command, [{ tables: new Map([...tables(rows), ...upcall]) }, { tables: tables(rows), notes: [upcallNote] }]).stdout;
    expect(withUpcall('sleep')).not.toMatch(/UPCALL/);
    const ovs = withUpcall('ovs-vswitchd');
    expect(ovs).toMatch(/^# UPCALL STATISTICS \(TOTAL \[CPU_ID: N_UPCALLS_PER_CPU, \.\.\.\]\):\n {2}Total upcalls {7}: 7 \[3: 7\]$/m);
    expect(ovs).toMatch(/^# UPCALL STATISTICS: not available \(the openvswitch kernel module is not loaded\)$/m);
    // Other sections' not-available lines stay, whatever the target.
    const other = render('text', 'sleep', [{ tables: tables(rows), notes: [{ section: 'THREAD RUN STATISTICS', reason: 'why' }] }]).stdout;
    expect(other).toMatch(/^# THREAD RUN STATISTICS: not available \(why\)$/m);
  });

  it('says in one line that no thread did anything, instead of an empty table; a window that never opened says so', () => {
    expect(render('text', 'sleep', [{ tables: new Map() }]).stdout).toBe('# Idle: no measured thread of process 31700 (sleep) ran on a CPU or made a system call in this window\n');
    expect(render('text', 'sleep', [{ tables: new Map() }], 0).stdout).toBe('# Empty window: the run ended before a trigger opened one\n');
    // Only the syscalls probe: it says what that probe sees (and the target's name escaped, as thread names are).
    const lines: string[] = [];
    const syscallsOnly = OUTPUT_FORMATS.text.create({
      sections: probeManifest('syscalls').sections,
      threadName: () => 'x',
      print: (line) => lines.push(line),
      write: () => true,
      target: { pid: 5, command: 'a\x1bb' },
    });
    syscallsOnly.sample(1, { tables: new Map(), warnings: [] }, 0, 1);
    expect(lines.slice(1)).toEqual(['# Idle: no measured thread of process 5 (a\\x1bb) made a system call in this window']);
  });

  it('points to the legend once, after the first sample with a table (stderr on a terminal: the driver decides)', () => {
    const { hints } = render('text', 'sleep', [{ tables: new Map() }, { tables: tables(rows) }, { tables: tables(rows) }]);
    expect(hints).toEqual([LEGEND_HINT]);
    expect(LEGEND_HINT).toBe('kdelay help legend explains these sections');
  });
});

describe('Open vSwitch', () => {
  it("is known by the target's name, as kdelay finds it without -p", () => {
    expect(isOpenVswitch('ovs-vswitchd')).toBe(true);
    expect(isOpenVswitch('sleep')).toBe(false);
    expect(isOpenVswitch('ovs-vsctl')).toBe(false);
  });

  it("its sections are the upcall probe's, by id and title", () => {
    expect(OPEN_VSWITCH_SECTIONS).toEqual(probeManifest('upcall').sections.map(({ id, title }) => ({ id, title })));
  });
});
