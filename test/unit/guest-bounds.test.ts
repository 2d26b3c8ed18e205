/**
 * Every pointer and length a guest passes is checked against its memory: a
 * violation traps that guest with a clear message, nothing reaches the
 * kernel layer, and the host (and other guests) carry on.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { BpfBackend } from '../../host/libbpf/backend.js';
import { GuestTrap } from '../../host/runtime/guest-memory.js';
import { GuestSession } from '../../host/runtime/guest-session.js';
import { instantiateGuest } from '../../host/runtime/probe-guest.js';
import { SharedMaps } from '../../host/runtime/shared-maps.js';
import { compileGuest } from '../helpers/guests.js';

/** A backend that fails the test if the runtime ever calls it. */
const calls: string[] = [];
const untouchable = new Proxy({} as BpfBackend, {
  get: (_t, prop) => () => {
    calls.push(String(prop));
    throw new Error(`backend.${String(prop)} reached`);
  },
});

let module: WebAssembly.Module;
beforeAll(async () => {
  module = new WebAssembly.Module(await compileGuest('bad_pointers'));
});

function newGuest() {
  const session = new GuestSession('bad', untouchable, new SharedMaps(untouchable));
  const services = { option: () => undefined, optionString: () => undefined, syscallNumber: () => undefined, syscallName: () => undefined, rows: () => {}, warning: () => {} };
  const { instance } = instantiateGuest(module, session, services);
  return instance.exports as Record<string, () => number | bigint>;
}

describe('guest bounds checks', () => {
  it.each([
    ['load_past_end', /wasm_load_bpf_object: \[\d+, \d+\) is outside guest memory/],
    ['load_negative_length', /wasm_load_bpf_object: \[16, 4294967311\) is outside guest memory/],
    ['unterminated_string', /wasm_bpf_map_fd_by_name name: string at \d+ has no NUL/],
    ['unknown_handle', /unknown BPF object handle 12345/],
    ['row_values_past_end', /report_rows values: \[\d+, \d+\) is outside guest memory/],
  ])('%s traps the guest with a clear error', (name, message) => {
    const guest = newGuest();
    expect(() => guest[name]()).toThrow(GuestTrap);
    expect(() => guest[name]()).toThrow(message);
    expect(calls).toEqual([]);
  });

  it('an fd the guest was never given is -EBADF, not a host fd', () => {
    expect(newGuest().unknown_map_fd()).toBe(-9);
    expect(newGuest().lookup_all_past_end()).toBe(-9); // the fd check comes first: 3 is not its map
    expect(calls).toEqual([]);
  });

  it('the host and the same guest keep working after a trap', () => {
    const guest = newGuest();
    expect(() => guest.load_past_end()).toThrow(GuestTrap);
    expect(guest.healthy()).toBe(42);
    expect(newGuest().healthy()).toBe(42);
  });
});
