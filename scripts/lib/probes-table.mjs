// The table of built-in probes in ARCHITECTURE.md, generated from what
// bundles/ holds (each bundle's manifest and the program sections of its
// BPF objects), so that a new probe folder needs no hand edit there:
// `npm run build:probes` rewrites it, `npm run check:probes` fails when it
// is not current.
import { fs, path } from 'zx';
import { BUNDLES_DIR, ROOT } from './probe-build.mjs';

const { bundleFromBytes, embeddedObjects } = await import(path.join(ROOT, 'dist', 'host', 'bundle', 'bundle.js'));
const { programSections } = await import(path.join(ROOT, 'dist', 'host', 'bundle', 'policy.js'));

const BEGIN = '<!-- built-in probes: generated from bundles/ by npm run build:probes; do not edit -->';
const END = '<!-- end of built-in probes -->';
const DOC = 'ARCHITECTURE.md';

async function probesTable() {
  const files = (await fs.readdir(path.join(ROOT, BUNDLES_DIR))).filter((f) => f.endsWith('.wasm')).sort();
  const rows = ['| bundle | sections | hooks (program sections) |', '| --- | --- | --- |'];
  for (const file of files) {
    const bytes = await fs.readFile(path.join(ROOT, BUNDLES_DIR, file));
    const { manifest } = bundleFromBytes(bytes, file);
    const hooks = [
      ...new Set(
        embeddedObjects(bytes)
          .flatMap((elf) => programSections(elf))
          .filter((s) => s !== '.text'),
      ),
    ];
    const sections = manifest.sections.map((s) => s.title.replace(/ STATISTICS$/, '')).join(', ') || 'none';
    rows.push(
      `| \`${manifest.name}\`${manifest.optional ? ' (optional)' : ''} | ${sections}${sections === 'none' ? '' : manifest.sections[0].scope === 'system' ? ' (system scope)' : ''} | ${hooks.join(', ')} |`,
    );
  }
  return rows.join('\n');
}

/** ARCHITECTURE.md with the generated table in place (throws if its markers are gone). */
async function withCurrentTable() {
  const text = await fs.readFile(path.join(ROOT, DOC), 'utf8');
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${DOC} lost its markers around the built-in probes table (${BEGIN} ... ${END})`);
  return { text, current: text.slice(0, start + BEGIN.length) + '\n' + (await probesTable()) + '\n' + text.slice(end) };
}

/** Rewrites the table; returns true if it changed. */
export async function updateProbesTable() {
  const { text, current } = await withCurrentTable();
  if (current !== text) await fs.writeFile(path.join(ROOT, DOC), current);
  return current !== text;
}

/** A problem line when the table does not match bundles/, else undefined. */
export async function staleProbesTable() {
  const { text, current } = await withCurrentTable();
  return current === text ? undefined : `${DOC}'s built-in probes table does not match bundles/; run 'npm run build:probes' and commit ${DOC}`;
}
