/**
 * Host values: options a manifest declares with "host": true and "from"
 * get what kdelay derives from its own flags, without the host naming the
 * probe or its options (driver/host-values.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { optionsFromHostValues, textOptionsFromHost } from '../../host/driver/host-values.js';
import { parseManifest } from '../../host/bundle/manifest.js';

const ROOT = join(import.meta.dirname, '..', '..');
const manifest = (options: unknown[]) => JSON.stringify({ name: 'p', version: '1.0.0', abi: 1, description: 'd', sections: [], options });

describe('options from host values', () => {
  it('sets each declared option from the value it names, and nothing else', () => {
    const { options } = parseManifest(readFileSync(join(ROOT, 'probes', 'syscalls', 'manifest.json'), 'utf8'), 'syscalls');
    const values = {
      'syscall_events.enabled': 1n,
      'syscall_events.min_ns': 5000n,
      'syscall_events.skip_poll': 0n,
      'syscall_events.stack_trace_size': 64n,
      'syscall_events.ring_bytes': 65536n,
      'other.thing': 9n,
    };
    expect(optionsFromHostValues([options, undefined], values)).toEqual({
      'syscalls.events': 1n,
      'syscalls.events_min_ns': 5000n,
      'syscalls.events_skip_poll': 0n,
      'syscalls.stack_trace_size': 64n,
      'syscalls.events_ring_bytes': 65536n,
    });
    // Without -s there are no such values: the probe keeps its defaults.
    expect(optionsFromHostValues([options], {})).toEqual({});
  });

  it('a manifest may only ask for a host value on a host option, by a plain name', () => {
    const spec = { name: 'p.x', type: 'u32', description: 'x' };
    expect(parseManifest(manifest([{ ...spec, host: true, from: 'syscall_events.min_ns' }]), 'm.json').options?.[0].from).toBe('syscall_events.min_ns');
    expect(() => parseManifest(manifest([{ ...spec, from: 'syscall_events.min_ns' }]), 'm.json')).toThrow('option p.x: from needs "host": true');
    expect(() => parseManifest(manifest([{ ...spec, host: true, from: 'Bad Name' }]), 'm.json')).toThrow('option p.x from must name a host value');
  });

  it("a return_probe option asks the host how to reach a function's return; a probe that cannot is skipped with the reason", () => {
    const upcall = parseManifest(readFileSync(join(ROOT, 'probes', 'upcall', 'manifest.json'), 'utf8'), 'upcall');
    const asked: [string, readonly string[]][] = [];
    const kretprobe = (fn: string, modules: readonly string[]) => (asked.push([fn, modules]), { attach: 'kretprobe' });
    expect(textOptionsFromHost(upcall, kretprobe)).toEqual({ options: { 'upcall.attach': 'kretprobe' } });
    // The modules it names are the manifest's own "kernel module" requirements.
    expect(asked).toEqual([['ovs_dp_upcall', ['openvswitch']]]);
    expect(textOptionsFromHost(upcall, () => ({ unavailable: 'no way in' }))).toEqual({ unavailable: 'no way in' });
    // A probe without such options asks nothing.
    const syscalls = parseManifest(readFileSync(join(ROOT, 'probes', 'syscalls', 'manifest.json'), 'utf8'), 'syscalls');
    expect(textOptionsFromHost(syscalls, () => ({ unavailable: 'never asked' }))).toEqual({ options: {} });
  });

  it('the trigger probe is found by the role its manifest provides, not by its name', () => {
    const trigger = parseManifest(readFileSync(join(ROOT, 'probes', 'trigger', 'manifest.json'), 'utf8'), 'trigger');
    expect(trigger.provides).toEqual(['trigger']);
    expect(() => parseManifest(JSON.stringify({ name: 'p', version: '1.0.0', abi: 1, sections: [], provides: ['Bad Role'] }), 'm.json')).toThrow('provides entries must be roles');
  });
});
