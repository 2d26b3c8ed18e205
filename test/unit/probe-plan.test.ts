/**
 * Which probes a run starts and with which options (driver/probe-plan.ts),
 * decided over the built-in bundles' real manifests, with the kernel's
 * answers given as data: no BPF needed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admittedBundles } from '../../host/driver/admission.js';
import type { CatalogEntry } from '../../host/driver/catalog.js';
import { type PlanOptions, planProbes, probeOptionValues, whyUnavailable } from '../../host/driver/probe-plan.js';
import type { FeatureSource } from '../../host/system/kernel-features.js';

let home: string;
let entries: CatalogEntry[];
const saved = process.env.KDELAY_HOME;

beforeAll(() => {
  // An empty $KDELAY_HOME: the built-ins only, whatever this machine has installed.
  home = mkdtempSync(join(tmpdir(), 'kdelay-plan-'));
  process.env.KDELAY_HOME = home;
  entries = admittedBundles({ probeFiles: [], trustKeys: [], allowUnsigned: false, allowProgramKinds: [] });
});

afterAll(() => {
  if (saved === undefined) delete process.env.KDELAY_HOME;
  else process.env.KDELAY_HOME = saved;
  rmSync(home, { recursive: true, force: true });
});

/** A kernel with every feature but the ones named, each missing for the reason given. */
const kernel = (missing: Record<string, string> = {}): FeatureSource => ({ check: (requirement) => missing[requirement.trim()] });
const kretprobes = () => ({ attach: 'kretprobe' });
const defaults: PlanOptions = { onlyProbes: [], skipProbes: [], verdict: false, verdictOnly: false, histograms: false, probeOptions: {} };
const manifestOf = (name: string) => entries.find((e) => e.bundle.manifest.name === name)!.bundle.manifest;

describe('--probe-option values', () => {
  it('takes an integer within the manifest range, as a bigint', () => {
    expect(probeOptionValues({ 'sched.slots': '1', 'syscalls.max_entries': ' +16777216 ' }, entries)).toEqual({
      numeric: { 'sched.slots': 1n, 'syscalls.max_entries': 16777216n },
      text: {},
    });
  });

  it.each([
    ['sched.slots', '0', '--probe-option sched.slots: 0 is out of range (1 to 1048576)'],
    ['irq.max_entries', '16777217', '--probe-option irq.max_entries: 16777217 is out of range (1 to 16777216)'],
    ['sched.slots', '0x10', "--probe-option sched.slots: '0x10' is not an integer"],
    ['syscalls.events', '1', '--probe-option syscalls.events: kdelay sets it from its own flags'],
    [
      'no.such',
      '1',
      '--probe-option no.such: no running probe declares it (known: account.max_entries, account.runtime_warmup_ms, irq.max_entries, sched.slots, sched.max_entries, sched.runtime_warmup_ms, syscalls.slots, syscalls.max_entries)',
    ],
  ])('refuses %s=%s', (name, value, message) => {
    expect(() => probeOptionValues({ [name]: value }, entries)).toThrow(message);
  });

  it('knows only the options of the probes that run', () => {
    expect(() =>
      probeOptionValues(
        { 'sched.slots': '8' },
        entries.filter((e) => e.bundle.manifest.name === 'irq'),
      ),
    ).toThrow('--probe-option sched.slots: no running probe declares it (known: irq.max_entries)');
  });
});

describe('why a probe is unavailable', () => {
  it('names the machine a bundle carries no object for', () => {
    expect(whyUnavailable(manifestOf('sched'), kernel(), 'riscv64')).toMatch(/^needs x86_64 or arm64: this machine is riscv64, and the bundle carries no BPF object for it$/);
  });

  it('names the first unmet requirement, min_kernel first', () => {
    const floor = `kernel>=${manifestOf('sched').min_kernel}`;
    expect(whyUnavailable(manifestOf('sched'), kernel({ [floor]: 'this kernel is 4.19', tp_btf: 'no' }), 'x64')).toBe(`needs ${floor}: this kernel is 4.19`);
    expect(whyUnavailable(manifestOf('sched'), kernel({ tp_btf: 'no BTF-typed tracepoints' }), 'x64')).toBe('needs tp_btf: no BTF-typed tracepoints');
    expect(whyUnavailable(manifestOf('upcall'), kernel({ 'kernel module openvswitch': 'the openvswitch kernel module is not loaded' }), 'x64')).toBe(
      'the openvswitch kernel module is not loaded',
    );
    expect(whyUnavailable(manifestOf('upcall'), kernel(), 'x64')).toBeUndefined();
  });
});

describe('the plan', () => {
  it('by default runs all but the accounting probe, which gets no line; the host derives upcall.attach', () => {
    const plan = planProbes(entries, defaults, false, kernel(), kretprobes);
    expect([...plan.skip]).toEqual([['account', undefined]]);
    expect(plan.triggerProbe).toBe('trigger');
    expect(plan.hostText).toEqual({ 'upcall.attach': 'kretprobe' });
  });

  it('runs the accounting probe for the verdict, or when --only names it', () => {
    expect(planProbes(entries, { ...defaults, verdict: true }, false, kernel(), kretprobes).skip.size).toBe(0);
    const only = planProbes(entries, { ...defaults, onlyProbes: ['account'] }, false, kernel(), kretprobes);
    // The trigger probe reports no section: infrastructure, which --only keeps.
    expect([...only.skip.keys()].sort()).toEqual(['irq', 'sched', 'syscalls', 'upcall']);
  });

  it('skips what the kernel cannot run, with the reason, and the others still run', () => {
    const plan = planProbes(entries, defaults, false, kernel({ 'kernel module openvswitch': 'the openvswitch kernel module is not loaded' }), kretprobes);
    expect(plan.skip.get('upcall')).toBe('the openvswitch kernel module is not loaded');
    expect(plan.skip.has('sched')).toBe(false);
    const noReturnProbe = planProbes(entries, defaults, false, kernel(), () => ({ unavailable: 'neither kprobes nor fexit' }));
    expect(noReturnProbe.skip.get('upcall')).toBe('neither kprobes nor fexit');
    expect(noReturnProbe.hostText).toEqual({});
  });

  it('refuses flags that contradict each other', () => {
    expect(() => planProbes(entries, { ...defaults, skipProbes: ['trigger'] }, true, kernel(), kretprobes)).toThrow(
      '--skip trigger: the trigger probe is what --start-trigger and --stop-trigger run on',
    );
    expect(() => planProbes(entries, { ...defaults, verdict: true, verdictOnly: true, skipProbes: ['account'] }, false, kernel(), kretprobes)).toThrow(
      '--verdict-only needs the account probe, which --only/--skip leave out',
    );
    expect(() => planProbes(entries, { ...defaults, verdict: true, histograms: true, onlyProbes: ['sched'] }, false, kernel(), kretprobes)).toThrow(
      '--hist needs the account probe, which --only/--skip leave out',
    );
  });

  it('checks --probe-option against the probes that run only', () => {
    expect(planProbes(entries, { ...defaults, probeOptions: { 'irq.max_entries': '64' } }, false, kernel(), kretprobes).numeric).toEqual({ 'irq.max_entries': 64n });
    expect(() => planProbes(entries, { ...defaults, probeOptions: { 'account.max_entries': '64' } }, false, kernel(), kretprobes)).toThrow(
      '--probe-option account.max_entries: no running probe declares it',
    );
  });
});
