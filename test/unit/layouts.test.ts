/**
 * Layouts generated from BTF (scripts/lib/layouts.mjs): the user half's and
 * the host's sizes and offsets of what crosses the kernel/user line follow
 * the C declarations with no hand edit. Shown on temporary copies: a probe
 * whose map value gains a field, and the shared header whose syscall event
 * changes a field's type.
 */
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KDELAY_GATE_SIZE, readKdelayGate, writeKdelayGate } from '../../host/runtime/kernel-records.js';

const ROOT = join(import.meta.dirname, '..', '..');
// Two levels below the root, as probe folders are: a built-in's user half imports ../lib/, copied next to it.
const SCRATCH = '.test-probes';
const OURS = ['layouts-sched', 'lib', 'layouts-include', 'layouts-lib-build', 'layouts-lib-build-edited'];
type Layouts = typeof import('../../scripts/lib/layouts.mjs');
type ProbeBuild = typeof import('../../scripts/lib/probe-build.mjs');
// The build scripts load dist/ (tsc's output), which `npm test` builds first.
const layouts = (): Promise<Layouts> => import(join(ROOT, 'scripts', 'lib', 'layouts.mjs'));
const probeBuild = (): Promise<ProbeBuild> => import(join(ROOT, 'scripts', 'lib', 'probe-build.mjs'));

afterAll(() => OURS.forEach((dir) => rmSync(join(ROOT, SCRATCH, dir), { recursive: true, force: true })));

/** A copy of a folder of the repository under SCRATCH, with one text replaced in one of its files. */
function editedCopy(from: string, to: string, file: string, before: string, after: string): string {
  rmSync(join(ROOT, SCRATCH, to), { recursive: true, force: true });
  cpSync(join(ROOT, from), join(ROOT, SCRATCH, to), { recursive: true, filter: (src) => !src.endsWith('/build') });
  const path = join(ROOT, SCRATCH, to, file);
  const text = readFileSync(path, 'utf8');
  expect(text).toContain(before);
  writeFileSync(path, text.replace(before, after));
  return join(SCRATCH, to);
}

describe('layouts generated from BTF', () => {
  it('the committed host records and accounting contract are what the shared header generates', async () => {
    const { sharedLayouts, HOST_RECORDS, HOST_ACCOUNTING } = await layouts();
    const { hostRecords, hostAccounting, hostFiles } = await sharedLayouts(undefined, join(SCRATCH, 'layouts-lib-build'));
    expect(readFileSync(join(ROOT, HOST_RECORDS), 'utf8')).toBe(hostRecords);
    expect(readFileSync(join(ROOT, HOST_ACCOUNTING), 'utf8')).toBe(hostAccounting);
    expect(hostFiles.map(([file]) => file)).toEqual([HOST_RECORDS, HOST_ACCOUNTING]);
    // Declared once: the contract's enums are in its own file (report/ may import it), not in the runtime's records.
    expect(hostAccounting).toContain('  ACCOUNT_NO_SYSCALL: 4294967295,');
    expect(hostAccounting).toContain('  ACCOUNT_HIST_SLOTS: 40,');
    expect(hostRecords).not.toContain('ACCOUNT_');
    // The guests get the same values, an unsigned enum's above i32 as u32.
    const shared = readFileSync(join(ROOT, SCRATCH, 'layouts-lib-build', 'shared.layout.ts'), 'utf8');
    expect(shared).toContain('export const ACCOUNT_NO_SYSCALL: u32 = 4294967295;');
    expect(shared).toContain('export const ACCOUNT_BLOCKED = 5;');
  });

  it('a probe whose map value gains a field: sizes, offsets and readers follow, and its user half builds unedited', { timeout: 120_000 }, async () => {
    const { probeLayout } = await layouts();
    const original = await probeLayout('sched', join('probes', 'sched'));
    expect(original).toContain('export const THREAD_STATE_VALUE_SIZE: i32 = 32;');
    expect(original).toContain('export function threadStateOutNs(p: usize): u64 { return load<u64>(p, 8); }');

    const dir = editedCopy(
      join('probes', 'sched'),
      'layouts-sched',
      'sched.bpf.c',
      '\tu64 in_ns;         /* start of the stretch on the CPU now (0: not on it, or its start was not seen) */\n',
      '\tu64 in_ns;         /* start of the stretch on the CPU now (0: not on it, or its start was not seen) */\n\tu32 cpu;\n\tu32 pad_cpu;\n',
    );
    const changed = await probeLayout('sched', dir);
    expect(changed).toContain('export const THREAD_STATE_VALUE_SIZE: i32 = 40;');
    expect(changed).toContain('export const THREAD_STATE_SIZE: i32 = 40;');
    expect(changed).toContain('export function threadStateCpu(p: usize): u32 { return load<u32>(p, 8); }');
    expect(changed).toContain('export function threadStateOutNs(p: usize): u64 { return load<u64>(p, 16); }');
    expect(changed).not.toMatch(/PAD_CPU|padCpu/); // padding has a size, not a reader

    // sched.ts reads thread_state only through the generated names: it compiles against the new layout as it is.
    rmSync(join(ROOT, SCRATCH, 'lib'), { recursive: true, force: true });
    cpSync(join(ROOT, 'probes', 'lib'), join(ROOT, SCRATCH, 'lib'), { recursive: true }); // with build/shared.layout.ts
    const { buildProbeBody } = await probeBuild();
    const body = await buildProbeBody('sched', dir);
    expect(body.length).toBeGreaterThan(1000);
  });

  it('a record the host reads changes type: the generated TypeScript reader follows', async () => {
    const { sharedLayouts } = await layouts();
    const include = editedCopy(join('probes', 'include'), 'layouts-include', 'kdelay_records.bpf.h', '\tu32 tid;\n\tu32 nr;\n', '\tu32 tid;\n\tu32 pad_tid;\n\tu64 nr;\n');
    const { hostRecords } = await sharedLayouts(include, join(SCRATCH, 'layouts-lib-build-edited'));
    expect(hostRecords).toContain('export const KDELAY_SYSCALL_EVENT_SIZE = 56;');
    expect(hostRecords).toMatch(/export interface KdelaySyscallEvent \{[^}]*\n {2}nr: bigint;/);
    expect(hostRecords).toContain('nr: view.getBigUint64(at + 24, true),');
    expect(hostRecords).toContain('kernelStackId: view.getInt32(at + 32, true),');
    expect(hostRecords).toContain('blockedNs: view.getBigUint64(at + 40, true),');
    const shared = readFileSync(join(ROOT, SCRATCH, 'layouts-lib-build-edited', 'shared.layout.ts'), 'utf8');
    expect(shared).toContain('export function kdelaySyscallEventNr(p: usize): u64 { return load<u64>(p, 24); }');
  });

  it('the generated gate reader and writer round-trip every field', () => {
    const view = new DataView(new ArrayBuffer(KDELAY_GATE_SIZE));
    const gate = { state: 2n, windowStartNs: 1n << 62n, windowStopNs: 123_456_789n, missedStarts: 7n };
    writeKdelayGate(view, gate);
    expect(readKdelayGate(view)).toEqual(gate);
    expect(view.getBigUint64(8, true)).toBe(1n << 62n);
  });
});
