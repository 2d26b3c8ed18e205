/**
 * The fast paths that lay out 100k-row reports (a radix sort, numbers
 * written three digits at a time into fixed-width lines) against the plain
 * definitions they replace. The golden layout tests (format, irq-layout) cover the layout
 * itself.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatStatistics } from '../../host/report/statistics.js';
import { parseManifest } from '../../host/bundle/manifest.js';
import { rowOrder } from '../../host/report/row-order.js';
import { type SampleTables, SectionTable, tableFor } from '../../host/model/section-table.js';
import { integerLimit, withThousands, writeIntegerBackwards } from '../../host/report/integers.js';

const syscallSections = parseManifest(readFileSync(join(import.meta.dirname, '..', '..', 'probes', 'syscalls', 'manifest.json'), 'utf8'), 'syscalls').sections;
const INDENT = ' '.repeat(28);

/** A small deterministic generator, so that failures reproduce. */
function random(seed: number) {
  return () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
}

describe('numbers written backwards into a line', () => {
  const written = (n: number, thousands: boolean) => {
    const buf = new Uint8Array(40).fill(0x20);
    writeIntegerBackwards(buf, 40, n, thousands);
    return Buffer.from(buf).toString('latin1').trimStart();
  };
  const next = random(7);
  const samples = [
    0,
    9,
    10,
    99,
    100,
    999,
    1000,
    99_999,
    999_999,
    1_000_000,
    999_999_999,
    1e9,
    1e9 + 1,
    1_000_000_000_000 - 1,
    2 ** 32,
    // Just below multiples of 10^9 near 2^53, where n / 1e9 rounds up.
    9_007_198_999_999_999,
    8_999_999_999_999_999,
    2 ** 53 - 1,
    ...Array.from({ length: 200 }, () => Math.floor(next() * 2 ** (1 + Math.floor(next() * 52)))),
  ];
  it.each([true, false])('match withThousands / String (thousands %s)', (thousands) => {
    for (const n of samples) expect(written(n, thousands)).toBe(thousands ? withThousands(BigInt(n)) : BigInt(n).toString());
  });

  it('integerLimit is the first integer that does not fit the width', () => {
    for (const thousands of [true, false]) {
      for (let width = 1; width <= 26; width++) {
        const limit = integerLimit(width, thousands);
        expect(written(limit - 1, thousands).length).toBeLessThanOrEqual(width);
        if (limit < 2 ** 53) expect(written(limit, thousands).length).toBeGreaterThan(width);
      }
    }
  });
});

describe('row order', () => {
  /** The definition: by thread, then the sort column largest first, then label ("" for none), then as reported. */
  function expectedOrder(table: SectionTable, threadOf: Uint32Array, column: number): number[] {
    const rows = Array.from({ length: table.count }, (_, i) => i);
    return rows.sort((a, b) => {
      if (threadOf[a] !== threadOf[b]) return threadOf[a] - threadOf[b];
      if (column >= 0) {
        const d = table.value(b, column) - table.value(a, column);
        if (d) return d;
      }
      const la = table.label(a) ?? '';
      const lb = table.label(b) ?? '';
      return la < lb ? -1 : la > lb ? 1 : a - b;
    });
  }

  const build = (values: number[], seed: number) => {
    const next = random(seed);
    const labels = [undefined, '', 'poll', 'read', 'write', 'futex', 'epoll_wait', 'Read', 'é'];
    const table = new SectionTable('t', 2);
    const threadOf = new Uint32Array(600);
    for (let row = 0; row < 600; row++) {
      threadOf[row] = Math.floor(next() * 7);
      table.add(1000 + threadOf[row], labels[Math.floor(next() * labels.length)], [values[Math.floor(next() * values.length)], row]);
    }
    return { table, threadOf };
  };

  it.each([
    ['small integers with many ties', [0, 1, 2, 3, 5, 8]],
    ['integers past 2^32 and 2^53', [0, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 1e15, 2 ** 53 - 1, 2 ** 60, 2 ** 64]],
    ['negatives, -0 and fractions', [-1e20, -3, -0.5, -0, 0, 0.25, 1, 7.5, 1e300, Infinity, -Infinity]],
  ])('sorts like the comparator: %s', (_, values) => {
    for (const seed of [1, 2, 3]) {
      const { table, threadOf } = build(values, seed);
      for (const column of [0, -1]) {
        const { order, starts } = rowOrder(table, threadOf, 7, column);
        expect(Array.from(order)).toEqual(expectedOrder(table, threadOf, column));
        for (let t = 0; t < 7; t++) for (let k = starts[t]; k < starts[t + 1]; k++) expect(threadOf[order[k]]).toBe(t);
      }
    }
  });
});

describe('row order with very uneven threads', () => {
  it('sorts like the comparator when one thread has most rows and many have one or none', () => {
    const next = random(11);
    const THREADS = 300;
    const table = new SectionTable('t', 2);
    const threadOf = new Uint32Array(20_000);
    for (let row = 0; row < threadOf.length; row++) {
      // 90% of the rows in thread 0; the rest spread thinly, leaving some threads empty.
      threadOf[row] = next() < 0.9 ? 0 : 1 + Math.floor(next() * (THREADS - 1)) * (next() < 0.5 ? 1 : 0);
      table.add(1000 + threadOf[row], `sys${Math.floor(next() * 400)}`, [Math.floor(next() * 1e12), row]);
    }
    const { order, starts } = rowOrder(table, threadOf, THREADS, 0);
    const expected = Array.from({ length: table.count }, (_, i) => i).sort(
      (a, b) => threadOf[a] - threadOf[b] || table.value(b, 0) - table.value(a, 0) || (table.label(a)! < table.label(b)! ? -1 : table.label(a)! > table.label(b)! ? 1 : a - b),
    );
    expect(Array.from(order)).toEqual(expected);
    for (let t = 0; t < THREADS; t++) for (let k = starts[t]; k < starts[t + 1]; k++) expect(threadOf[order[k]]).toBe(t);
    expect(starts[THREADS]).toBe(table.count);
  });
});

describe('rows that leave the fixed-width line', () => {
  const rowsOf = (rows: [number, string, number[]][]): SampleTables => {
    const tables: SampleTables = new Map();
    for (const [tid, label, values] of rows) tableFor(tables, 'syscalls', 4).add(tid, label, values);
    return tables;
  };
  const line = (label: string, nr: string, count: string, total: string, max: string) =>
    `${INDENT}${label.slice(0, 20).padEnd(20)} ${nr.padStart(6)}  ${count.padStart(10)}  ${total.padStart(16)}  ${max.padStart(16)}`;

  it('pads a non-ASCII label by characters, as str.format does, among fixed-width lines', () => {
    const text = formatStatistics({
      sections: syscallSections,
      tables: rowsOf([
        [1, 'read', [0, 1, 30, 30]],
        [1, 'café_ü', [1, 2, 20, 10]],
        [1, 'write', [2, 3, 10, 5]],
      ]),
      threadName: () => 't',
    });
    expect(text.split('\n').slice(4, 7)).toEqual([line('read', '0', '1', '30', '30'), line('café_ü', '1', '2', '20', '10'), line('write', '2', '3', '10', '5')]);
  });

  it('lays out the rows before and after a too-wide number in place', () => {
    const text = formatStatistics({
      sections: syscallSections,
      tables: rowsOf([
        [1, 'a', [0, 1, 3e6, 1]],
        [1, 'b', [1, 12345678901, 2e6, 1]],
        [1, 'c', [2, 1, 1e6, 1.5]],
        [1, 'd', [3, 1, 1, 1]],
      ]),
      threadName: () => 't',
    });
    expect(text.split('\n').slice(4, 8)).toEqual([
      line('a', '0', '1', '3,000,000', '1'),
      `${INDENT}${'b'.padEnd(20)} ${'1'.padStart(6)}  12345678901  ${'2,000,000'.padStart(16)}  ${'1'.padStart(16)}`,
      line('c', '2', '1', '1,000,000', '1'), // 1.5 is not an integer: printed as its integer part, as before
      line('d', '3', '1', '1', '1'),
    ]);
  });
});
