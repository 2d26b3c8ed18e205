/**
 * Host values: options a manifest declares with "host": true and "from"
 * get what kdelay derives from its own flags, without the host naming the
 * probe or its options (driver/host-values.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { optionsFromHostValues } from '../host/driver/host-values.js';
import { parseManifest } from '../host/bundle/manifest.js';

const ROOT = join(import.meta.dirname, '..');
const manifest = (options: unknown[]) => JSON.stringify({ name: 'p', version: '1.0.0', abi: 1, description: 'd', sections: [], options });

describe('options from host values', () => {
  it('sets each declared option from the value it names, and nothing else', () => {
    const { options } = parseManifest(readFileSync(join(ROOT, 'probes', 'syscalls', 'manifest.json'), 'utf8'), 'syscalls');
    const values = { 'syscall_events.enabled': 1n, 'syscall_events.min_ns': 5000n, 'syscall_events.skip_poll': 0n, 'syscall_events.stack_trace_size': 64n, 'syscall_events.ring_bytes': 65536n, 'other.thing': 9n };
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
});
