// One fresh process's 100k-entry report, for `npm run bench` (read-format):
// loads the built-in probes against this process, fills the syscalls
// probe's stats map with 100k synthetic entries, then reads and lays out
// the report once cold (nothing JIT-compiled yet, as in a CLI run) and 4
// times warm. Prints one JSON line: coldMs, coldReadMs, warmMs, peakRssMb.
import path from 'node:path';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const dist = (p) => path.join(ROOT, 'dist', 'host', p);
const { LibbpfBackend } = await import(dist('libbpf/libbpf-backend.js'));
const { libbpfLog } = await import(dist('libbpf/log.js'));
const { bpf } = await import(dist('libbpf/ffi.js'));
const { ProbeSet, builtinBundles } = await import(dist('driver/probe-set.js'));
const { writeStatistics } = await import(dist('report/statistics.js'));
const { TextBuffer } = await import(dist('report/text-buffer.js'));
const { SyscallTable, hostArch } = await import(dist('syscalls/table.js'));
const { holdMemorySteady } = await import(dist('driver/memory-policy.js'));

libbpfLog.install(false);
// As the CLI runs (driver/measure.ts).
holdMemorySteady();
const ENTRIES = 100_000;
const backend = new LibbpfBackend();
const probes = ProbeSet.start(backend, builtinBundles(ROOT), { targetTgid: process.pid, syscalls: SyscallTable.for(hostArch()), options: { 'syscalls.max_entries': 131072n } });
// Our syscall_stats map: the newest map of that name.
let id = 0,
  statsFd = -1;
for (const next = [0]; bpf.map_get_next_id(id, next) === 0; id = next[0]) {
  const fd = bpf.map_get_fd_by_id(next[0]);
  if (fd < 0) continue;
  if (backend.mapInfoByFd(fd).name === 'syscall_stats') {
    if (statsFd >= 0) backend.closeFd(statsFd);
    statsFd = fd;
  } else backend.closeFd(fd);
}
const keys = Buffer.alloc(ENTRIES * 8),
  values = Buffer.alloc(ENTRIES * 32);
for (let i = 0; i < ENTRIES; i++) {
  keys.writeUInt32LE(100_000 + Math.floor(i / 250), i * 8);
  keys.writeUInt32LE(i % 250, i * 8 + 4);
  values.writeBigUInt64LE(BigInt(i + 1), i * 32);
  values.writeBigUInt64LE(BigInt(1000 * (i + 1)), i * 32 + 8);
  values.writeBigUInt64LE(500n, i * 32 + 16);
  values.writeBigUInt64LE(BigInt(2000 + i), i * 32 + 24);
}
for (let done = 0; done < ENTRIES;) {
  const count = [Math.min(8192, ENTRIES - done)];
  const err = bpf.map_update_batch(statsFd, keys.subarray(done * 8), values.subarray(done * 32), count, { sz: 24, elem_flags: 0n, flags: 0n });
  if (err) throw new Error(`filling the map failed: ${err}`);
  done += count[0];
}
const runs = [];
for (let i = 0; i < 5; i++) {
  const t1 = performance.now();
  const sample = probes.collect();
  const t2 = performance.now();
  const out = new TextBuffer();
  writeStatistics(out, { sections: probes.sections, tables: sample.tables, threadName: (tid) => `thread-${tid}` });
  const t3 = performance.now();
  const rows = sample.tables.get('syscalls')?.count;
  if (rows !== ENTRIES || out.bytes().length < ENTRIES * 80) throw new Error(`read ${rows} rows`);
  runs.push({ read: t2 - t1, total: t3 - t1 });
}
backend.closeFd(statsFd);
await probes.close();
const warm = runs
  .slice(1)
  .map((r) => r.total)
  .sort((a, b) => a - b);
process.stdout.write(
  `${JSON.stringify({ coldMs: runs[0].total, coldReadMs: runs[0].read, warmMs: warm[Math.floor(warm.length / 2)], peakRssMb: process.resourceUsage().maxRSS / 1024 })}\n`,
);
