/**
 * The JSON output's contract: the built-in sections' keys are the ones
 * README.md documents (a header change must not silently rename a key), and
 * the schema file itself is well-formed for a strict validator.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../host/bundle/manifest.js';
import { columnKey } from '../../host/report/json-records.js';
import { schemaProblems } from '../helpers/json-schema.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** README's "id | row keys" table: section id -> keys. */
function documentedKeys(): Record<string, string[]> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('| id | row keys |'));
  // The table ends at its first line that is not a row (later tables, such as serve's metrics, are not this one).
  const lines = table.split('\n').slice(2);
  const end = lines.findIndex((l) => !l.startsWith('|'));
  const rows = lines.slice(0, end < 0 ? lines.length : end).filter((l) => l.startsWith('| `'));
  return Object.fromEntries(
    rows.map((l) => {
      const [id, keys] = l.split('|').slice(1, 3);
      return [/`(\w+)`/.exec(id)![1], [...keys.matchAll(/`(\w+)`/g)].map((m) => m[1])];
    }),
  );
}

describe('JSON output contract', () => {
  it("the built-in probes' section keys are exactly those README.md documents", () => {
    const actual: Record<string, string[]> = {};
    for (const name of readdirSync(join(ROOT, 'probes'))) {
      let text: string;
      try {
        text = readFileSync(join(ROOT, 'probes', name, 'manifest.json'), 'utf8');
      } catch {
        continue; // lib/, include/: not probes
      }
      // Hidden sections are not in the sample record (the verdict and histogram records carry them).
      for (const section of parseManifest(text, name).sections.filter((s) => !s.hidden)) actual[section.id] = section.columns.map((c) => c.key ?? columnKey(c.header));
    }
    expect(actual).toEqual(documentedKeys());
  });

  it('refuses records that break the schema, naming the problem', () => {
    expect(schemaProblems('{"schema":1,"type":"warning","data":{"message":"x"}}')).toBeUndefined();
    expect(schemaProblems('{"type":"warning","data":{"message":"x"}}')).toMatch(/must have required property 'schema'/);
    expect(schemaProblems('{"schema":2,"type":"warning","data":{"message":"x"}}')).toMatch(/must be equal to constant/);
    expect(schemaProblems('{"schema":1,"type":"skipped","data":{"time":"2026-01-01T00:00:00.000Z","trigger_delta_ns":1.5}}')).toMatch(/trigger_delta_ns/);
    expect(schemaProblems('{"schema":1,"type":"skipped","data":{"time":"2026-01-01T00:00:00.000Z","trigger_delta_ns":"12"}}')).toMatch(/trigger_delta_ns/); // a short u64 must be a number
    // A sample record says whether its numbers are whole.
    const sample = {
      sample: 1,
      pid: 1,
      command: 'x',
      time: '2026-01-01T00:00:00.000Z',
      window_start_ns: 1,
      window_stop_ns: 2,
      window_start_time: '2026-01-01T00:00:00.000Z',
      window_stop_time: '2026-01-01T00:00:00.000Z',
      window_ns: 1,
      interrupted: false,
      target_exited: false,
      trigger_delta_ns: null,
      incomplete: true,
      warnings: ['3 measurements were dropped'],
      threads: [],
      system: {},
    };
    const record = (data: object) => JSON.stringify({ schema: 1, type: 'sample', data });
    expect(schemaProblems(record(sample))).toBeUndefined();
    const { incomplete: _incomplete, ...withoutMark } = sample;
    expect(schemaProblems(record(withoutMark))).toMatch(/must have required property 'incomplete'/);
    expect(schemaProblems(record({ ...sample, warnings: [3] }))).toMatch(/warnings/);
  });
});
