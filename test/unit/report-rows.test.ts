/**
 * How rows reach the host: report_rows reads the guest's arrays in place
 * (copying only unaligned ones) and hands labels over by id, one decode per
 * distinct pointer; tables keep one id per label text.
 */
import { describe, expect, it } from 'vitest';
import { SectionTable } from '../../host/model/section-table.js';
import { GuestMemory } from '../../host/runtime/guest-memory.js';
import type { GuestSession } from '../../host/runtime/guest-session.js';
import { kdelayImports, type RowBatch } from '../../host/runtime/kdelay-imports.js';

describe('report_rows', () => {
  /** Calls report_rows of a fresh import object on guest memory laid out by `fill`. */
  function reportRows(fill: (bytes: Uint8Array, view: DataView) => [number, number, number, number, number, number]): RowBatch[] {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const batches: RowBatch[] = [];
    const services = {
      option: () => undefined,
      optionString: () => undefined,
      syscallNumber: () => undefined,
      syscallName: () => undefined,
      // Copy now: the batch's arrays are views of guest memory.
      rows: (batch: RowBatch) => batches.push({ ...batch, tids: batch.tids.slice(), labelIndexes: batch.labelIndexes.slice(), valueWords: batch.valueWords.slice() }),
      warning: () => {},
    };
    const imports = kdelayImports({} as GuestSession, () => new GuestMemory(memory), services);
    const args = fill(new Uint8Array(memory.buffer), new DataView(memory.buffer));
    expect(imports.report_rows(...args)).toBe(0);
    return batches;
  }
  const cstring = (bytes: Uint8Array, at: number, s: string) => bytes.set(Buffer.from(`${s}\0`), at);

  it.each([0, 1, 2])('reads tids, labels and u64 values (arrays at offset +%i)', (misalign) => {
    const [batch] = reportRows((bytes, view) => {
      cstring(bytes, 16, 'syscalls');
      cstring(bytes, 32, 'read');
      cstring(bytes, 48, 'write');
      const tids = 1024 + misalign,
        labels = 2048 + misalign,
        values = 4096 + misalign;
      const rows: [number, number, bigint][] = [
        [7, 32, 5n],
        [8, 48, 2n ** 40n + 3n],
        [7, 0, 0n],
        [9, 32, 1n],
      ];
      rows.forEach(([tid, label, value], i) => {
        view.setUint32(tids + 4 * i, tid, true);
        view.setUint32(labels + 4 * i, label, true);
        view.setBigUint64(values + 8 * i, value, true);
      });
      return [16, rows.length, tids, labels, values, 1];
    });
    expect(batch.section).toBe('syscalls');
    expect(batch.labels).toEqual(['read', 'write', undefined]);
    const table = new SectionTable('syscalls', 1);
    table.appendWords(batch.count, batch.tids, batch.labelIndexes, batch.labels, batch.valueWords);
    expect(Array.from({ length: table.count }, (_, i) => table.row(i))).toEqual([
      { tid: 7, label: 'read', values: [5] },
      { tid: 8, label: 'write', values: [2 ** 40 + 3] },
      { tid: 7, label: undefined, values: [0] },
      { tid: 9, label: 'read', values: [1] },
    ]);
  });

  it('keeps one label id per text across batches', () => {
    const table = new SectionTable('s', 1);
    table.appendWords(2, Uint32Array.of(1, 2), Uint32Array.of(0, 1), ['a', 'b'], Uint32Array.of(1, 0, 2, 0));
    table.appendWords(2, Uint32Array.of(3, 4), Uint32Array.of(0, 1), ['b', undefined], Uint32Array.of(3, 0, 4, 0));
    expect(table.labels).toEqual([undefined, 'a', 'b']);
    expect([0, 1, 2, 3].map((row) => table.label(row))).toEqual(['a', 'b', 'b', undefined]);
  });
});
