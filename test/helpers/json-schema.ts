/**
 * Every JSON line kdelay prints in the tests is checked against the
 * published schema (schema/kdelay-output.schema.json) with ajv.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';

export const SCHEMA_PATH = join(import.meta.dirname, '..', '..', 'schema', 'kdelay-output.schema.json');
const validate = new Ajv({ allErrors: true, strict: true }).compile(JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')));

/** Why one NDJSON line does not match the schema, or undefined when it does. */
export function schemaProblems(line: string): string | undefined {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch (err) {
    return `not JSON (${(err as Error).message})`;
  }
  if (validate(record)) return undefined;
  return validate.errors!.map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
}

/** Throws naming the first line that is not a valid record; returns the parsed records. */
export function validNdjson(text: string): { schema: number; type: string; data: Record<string, unknown> }[] {
  const lines = text.split('\n').filter((l) => l !== '');
  lines.forEach((line, i) => {
    const problems = schemaProblems(line);
    if (problems) throw new Error(`line ${i + 1} of kdelay's JSON output breaks the schema: ${problems}\n${line}`);
  });
  return lines.map((l) => JSON.parse(l));
}
