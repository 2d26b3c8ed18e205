/**
 * HARD IRQ and SOFT IRQ STATISTICS laid out from probes/irq/manifest.json,
 * against test/fixtures/irq-layout.txt: made-up data laid out by Python's
 * str.format with kernel_delay.py's format strings
 * (test/fixtures/irq-layout.py regenerates it).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatStatistics } from '../../host/report/statistics.js';
import { parseManifest } from '../../host/bundle/manifest.js';
import { type SampleTables, tableFor } from '../../host/model/section-table.js';

const manifestOf = (probe: string) => parseManifest(readFileSync(join(import.meta.dirname, '..', '..', 'probes', probe, 'manifest.json'), 'utf8'), probe);
const irq = manifestOf('irq');
// The reference always prints SYSCALL STATISTICS first; the irq sections follow it.
const sections = [...manifestOf('syscalls').sections.filter((s) => s.id === 'syscalls'), ...irq.sections];
const expected = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'irq-layout.txt'), 'utf8').trimEnd();

interface Row {
  section: string;
  tid: number;
  label: string;
  values: number[];
}
const hard = (tid: number, name: string, count: number, total: number, max: number): Row => ({
  section: 'hardirq',
  tid,
  label: name,
  values: [count, total, max],
});
const soft = (tid: number, name: string, vec: number, count: number, total: number, max: number): Row => ({
  section: 'softirq',
  tid,
  label: name,
  values: [vec, count, total, max],
});
function tables(rows: Row[]): SampleTables {
  const out: SampleTables = new Map();
  for (const r of rows) tableFor(out, r.section, r.values.length).add(r.tid, r.label, r.values);
  return out;
}

// The data of irq-layout.py, deliberately out of order: the formatter sorts
// rows by TOTAL ns and threads by name. Labels are what the probe reports
// (the softirq names come from probes/irq/irq.ts).
const rows: Row[] = [
  soft(4101, 'rcu', 9, 7, 28142, 9835),
  hard(4103, 'virtio2-input.0', 1000000, 1234567890123, 4000000),
  hard(4101, 'ttyS0', 1, 812, 812),
  soft(4102, '<unknown:10>', 10, 1, 400, 400),
  soft(4101, 'timer', 1, 7, 87641, 18467),
  hard(4101, 'virtio1-req.0', 12, 345678, 81234),
  soft(4101, '<unknown:12>', 12, 1, 1500, 1500),
  soft(4102, 'timer', 1, 2, 3000, 2000),
  soft(4101, 'net_rx', 3, 250, 9876543, 123456),
  hard(4101, 'eno8303-TxRx-0-with-a-long-name', 3, 1234567, 999999),
  soft(4101, 'sched', 7, 17, 97647, 10015),
];
const names: Record<number, string> = { 4101: 'pmd-c03/id:9', 4102: 'handler1', 4103: 'revalidator5' };

describe('irq sections', () => {
  it('declares HARD IRQ (500) and SOFT IRQ (600) STATISTICS with the section ids the probe reports', () => {
    expect(irq.sections.map((s) => [s.id, s.title, s.order])).toEqual([
      ['hardirq', 'HARD IRQ STATISTICS', 500],
      ['softirq', 'SOFT IRQ STATISTICS', 600],
    ]);
    // Shown only for threads that have rows, like the reference.
    expect(irq.sections.some((s) => s.alwaysShown)).toBe(false);
  });

  it("match the reference's layout byte for byte", () => {
    const text = formatStatistics({ sections, tables: tables(rows), threadName: (tid) => names[tid] });
    expect(text).toBe(expected);
  });

  it('print nothing for a sample without interrupts', () => {
    const text = formatStatistics({ sections: irq.sections, tables: new Map(), threadName: (tid) => names[tid] });
    expect(text.split('\n')).toHaveLength(2); // only the TID/THREAD header
  });
});
