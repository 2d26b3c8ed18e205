// The start-up floor's first half (bench.mjs, section start): runs kdelay's CLI
// in this process, unbundled (dist/host), on a target PID, and writes down
// every call that shapes what libbpf and the kernel do until the probes are
// attached: maps the host creates, each object's bytes, globals, map sizes,
// autoloads, shared maps, loads and attaches, in their order. start-floor.c
// replays that journal with libbpf in C: kdelay's kernel and libbpf work,
// without Node, the CLI, the guests or anything else of kdelay's.
//
//   node scripts/bench/start-journal.mjs JOURNAL_DIR PID
//
// The CLI imports the backend from the same module URL as this script, so
// patching its prototype here records a real run's calls. Writes
// JOURNAL_DIR/journal.txt (one call per line, start-floor.c's format) and
// JOURNAL_DIR/object-N.o (the objects, as the guests handed them to libbpf).
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const [dir, pid] = process.argv.slice(2);
if (!dir || !pid) {
  process.stderr.write('usage: start-journal.mjs JOURNAL_DIR PID\n');
  process.exit(2);
}
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const { LibbpfBackend } = await import(path.join(ROOT, 'dist', 'host', 'libbpf', 'libbpf-backend.js'));

const lines = [];
/** Where each map fd came from, as the journal names it: "created ID" or "object N MAP". */
const fdOrigins = new Map();
let objects = 0;
let createdMaps = 0;
let recording = true;
const note = (line) => recording && lines.push(line);
/** Names in the journal are single words (C identifiers, section names). */
const word = (s) => {
  if (!/^[\w.]+$/.test(s)) throw new Error(`start-journal: ${JSON.stringify(s)} is not one word`);
  return s;
};

const { open, createMap, dupFd } = LibbpfBackend.prototype;
LibbpfBackend.prototype.createMap = function (type, name, keySize, valueSize, maxEntries) {
  const fd = createMap.call(this, type, name, keySize, valueSize, maxEntries);
  const id = createdMaps++;
  fdOrigins.set(fd, `created ${id}`);
  note(`map ${id} ${type} ${keySize} ${valueSize} ${maxEntries} ${word(name || 'unnamed')}`);
  return fd;
};
LibbpfBackend.prototype.dupFd = function (fd) {
  const copy = dupFd.call(this, fd);
  if (fdOrigins.has(fd)) fdOrigins.set(copy, fdOrigins.get(fd));
  return copy;
};
LibbpfBackend.prototype.open = function (elf, objectName) {
  const obj = open.call(this, elf, objectName);
  const n = objects++;
  const file = path.join(dir, `object-${n}.o`);
  writeFileSync(file, elf);
  note(`open ${n} ${file} ${word(objectName)}`);
  const wrap = (method, journal) => {
    const real = obj[method].bind(obj);
    obj[method] = (...args) => {
      const result = real(...args);
      journal(result, ...args);
      return result;
    };
  };
  wrap('setGlobal', (_, name, value) => note(`global ${n} ${word(name)} ${Buffer.from(value).toString('hex') || '-'}`));
  wrap('setMaxEntries', (_, map, entries) => note(`max ${n} ${word(map)} ${entries}`));
  wrap('setAutoload', (_, prog, on) => note(`autoload ${n} ${word(prog)} ${on ? 1 : 0}`));
  wrap('reuseMap', (_, map, fd) => {
    const origin = fdOrigins.get(fd);
    if (!origin) throw new Error(`start-journal: ${objectName} shares ${map} from an fd of unknown origin`);
    note(`reuse ${n} ${word(map)} ${origin}`);
  });
  wrap('load', () => note(`load ${n}`));
  wrap('mapFd', (fd, map) => fdOrigins.set(fd, `object ${n} ${map}`));
  wrap('attach', (_, prog) => note(`attach ${n} ${word(prog)}`));
  wrap('attachTo', (_, prog, target) => {
    throw new Error(`start-journal: ${objectName} attaches ${prog} as ${target.kind}, which start-floor.c does not replay`);
  });
  return obj;
};

// The journal ends where kdelay's own start-up measure ends: "# Start sampling".
const { main } = await import(path.join(ROOT, 'dist', 'host', 'cli', 'main.js'));
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = (chunk, ...rest) => {
  if (String(chunk).includes('# Start sampling')) recording = false;
  return write(chunk, ...rest);
};
const code = await main(['-p', pid, '--sample-time', '0.01']);
if (code) {
  process.stderr.write(`start-journal: kdelay exited ${code}\n`);
  process.exit(code);
}
writeFileSync(path.join(dir, 'journal.txt'), `${lines.join('\n')}\n`);
