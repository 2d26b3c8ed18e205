/** The NDJSON output's records: `{schema, type, data}`, described by schema/kdelay-output.schema.json. Pure. */

/**
 * The NDJSON output's version (schema/kdelay-output.schema.json, README
 * "JSON output"). Raise it when a key changes meaning or goes away; adding a
 * key or a record type keeps it.
 */
export const JSON_SCHEMA_VERSION = 1;

/** One output line: every record carries the schema version and its type; the payload is under data. */
export function jsonRecord(type: string, data: Record<string, unknown>): string {
  return JSON.stringify({ schema: JSON_SCHEMA_VERSION, type, data });
}

/**
 * A u64 (ns, counts) as JSON: a number while a double holds it exactly (up
 * to 2^53 - 1), else its decimal digits as a string. The rule is the same
 * for every such field; readers: `typeof v === 'string' ? BigInt(v) : v`.
 */
export function u64(value: bigint | number): number | string {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : BigInt(Math.round(value)).toString();
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
}

/** "TOTAL ns" -> "total_ns": a column's JSON key when its manifest declares none. */
export function columnKey(header: string): string {
  return header
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_|_$/g, '');
}
