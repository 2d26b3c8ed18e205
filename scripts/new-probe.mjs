#!/usr/bin/env zx
// npm run new-probe -- NAME [--dir PARENT]: scaffolds a probe package in
// PARENT/NAME (default probes/NAME, a built-in; use --dir examples, or any
// folder two levels below the project root, for one that ships on its own)
// from scripts/templates/probe. The result builds and runs as generated (it
// counts per-thread wakeups); probes/README.md explains what to change.
// It only copies templates, so it needs nothing built: not probe-build.mjs,
// which imports the host's tsc output (dist/), absent on a fresh clone.
import { fs, path } from 'zx';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

const TEMPLATE = path.join(ROOT, 'scripts', 'templates', 'probe');
const [name] = argv._;
const parent = argv.dir ?? 'probes';
const fail = (message, code = 1) => {
  console.error(`new-probe: ${message}`);
  process.exit(code);
};
if (!name) fail('usage: npm run new-probe -- NAME [--dir PARENT]', 2);
// Names become C identifiers, map names (15 characters at most with a suffix) and section ids.
if (!/^[a-z][a-z0-9_]{0,7}$/.test(name)) fail(`'${name}' is not a probe name: lower-case letters, digits and _, 8 characters at most, starting with a letter`, 2);
const dir = path.resolve(ROOT, parent, name);
// Generated user halves import ../../probes/lib: the folder must sit two levels below the root.
if (path.relative(ROOT, dir).split(path.sep).length !== 2) fail(`${path.relative(ROOT, dir)} must be two levels below the project root (like examples/NAME)`, 2);
if (await fs.pathExists(dir)) fail(`${path.relative(ROOT, dir)} already exists`);

const fill = (text) =>
  text
    .replaceAll('__NAME__', name)
    .replaceAll('__TITLE__', name.toUpperCase().replaceAll('_', ' '))
    .replaceAll('__UPPER__', name.toUpperCase())
    // As the build's generated layout names the readers (scripts/lib/layouts.mjs: camel).
    .replaceAll(
      '__CAMEL__',
      name
        .split('_')
        .filter(Boolean)
        .map((w, i) => (i ? w[0].toUpperCase() + w.slice(1) : w))
        .join(''),
    )
    .replaceAll('__DIR__', path.relative(ROOT, dir));
await fs.ensureDir(dir);
for (const file of await fs.readdir(TEMPLATE)) {
  await fs.writeFile(path.join(dir, fill(file)), fill(await fs.readFile(path.join(TEMPLATE, file), 'utf8')));
}
echo(`created ${path.relative(ROOT, dir)}/: ${(await fs.readdir(dir)).sort().join(', ')}`);
echo(parent === 'probes' ? `build it with: npm run build:probes -- ${name}` : `build it with: npm run build:probe-folder -- ${path.relative(ROOT, dir)}`);
