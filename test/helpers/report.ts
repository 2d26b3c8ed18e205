/**
 * Parses kdelay's text report back into numbers, so tests can assert on
 * what a user reads. Deliberately independent of host/report/ (statistics.ts, system-sections.ts).
 */
export interface ParsedSection {
  title: string;
  header: string[];
  /** Each row: its cells split on 2+ spaces, numbers without separators. */
  rows: string[][];
}

export interface ParsedThread {
  tid: number;
  name: string;
  sections: Map<string, ParsedSection>;
}

const TITLE = /^\s*(?:(\d+) (\S.*?))?\s*\[([A-Z ]+)\]$/;

export function parseReport(text: string): ParsedThread[] {
  const threads: ParsedThread[] = [];
  let thread: ParsedThread | undefined;
  let section: ParsedSection | undefined;
  let expectHeader = false;
  for (const line of text.split('\n')) {
    const title = TITLE.exec(line);
    if (title) {
      if (title[1]) {
        thread = { tid: Number(title[1]), name: title[2].trim(), sections: new Map() };
        threads.push(thread);
      }
      section = { title: title[3], header: [], rows: [] };
      thread!.sections.set(section.title, section);
      expectHeader = true;
      continue;
    }
    // The verdict and histograms follow the tables: not rows of the last section.
    if (line.startsWith('# VERDICT') || line.startsWith('# HISTOGRAMS')) section = undefined;
    if (!section || line.trim() === '' || line.startsWith('#')) continue;
    const cells = line
      .trim()
      .split(/\s{2,}/)
      .map((c) => c.replace(/,/g, ''));
    if (expectHeader) {
      section.header = line.trim().split(/\s{2,}/);
      expectHeader = false;
    } else section.rows.push(cells);
  }
  return threads;
}

/** The row of a labelled section (e.g. a syscall) as numbers, or undefined. */
export function labelledRow(section: ParsedSection | undefined, label: string): number[] | undefined {
  const row = section?.rows.find((r) => r[0] === label);
  return row?.slice(1).map(Number);
}
