#!/usr/bin/env zx
// npm run bench: kdelay's performance figures, each beside its floor or
// baseline measured in the same run (never asserted in tests: the numbers
// of a shared 2-vCPU VM are noise for a test, evidence for a person).
//
//   start          command start -> sampling beside `node -e 0` (alternated, median and min),
//                  with the CPU time of all its threads by then and where the time goes, and
//                  the floor: the same libbpf calls replayed in C (bench/start-floor.c);
//                  --baseline-root DIR runs another built checkout's kdelay beside it
//   read-format    a 100k-entry report, cold (fresh process) and warm, peak RSS
//   syscall-cost   added cost per traced syscall: empty-program floor, kdelay's
//                  configurations, bpftrace and libbpf-tools' syscount
//   switch-cost    added cost per pingpong round trip (2 switches, 2 wake-ups,
//                  4 syscalls): floor, kdelay's configurations, bpftrace, runqlat
//   events         -s events drained per second and lost, without and with stacks,
//                  beside the stack walk alone (and symbolizing 10k frames)
//   memory         kdelay's RSS after 10 and after 1,000 samples of a 2,000-thread target
//   record         --write over 1,000 samples of the 2,000-thread target: run time beside the
//                  same run without it, the file's size (gzip and the NDJSON inside), and
//                  `kdelay report FILE` (text and --json) replaying it; --samples N
//   verdict-memory the account and sched guests' memory and the process's RSS over many
//                  samples of a churning target (1,000 new threads a second) beside a steady
//                  2,000-thread one, with --hist's histograms on; --churn-samples N (default
//                  300) windows of --window-ms MS (default 100) each; --baseline-ref REF runs
//                  the bundles of git REF too
//   serve          kdelay serve on a 2,000-thread target: a scrape of /metrics (median, min, max) beside
//                  a GET of / from the same server (the HTTP floor), alternated, and its RSS (with
//                  --baseline-root, the other kdelay's too, in turns); the text rendered in process,
//                  hand-written beside prom-client (scripts/bench/serve-scrape.mjs).
//                  Its idle cost per syscall and per round trip is in syscall-cost and switch-cost
//                  ("kdelay serve", against "kdelay all probes")
//
// Every comparison alternates its configurations, --runs N times (default 5),
// and prints the median and the min. Peers (bpftrace, libbpf-tools) are used
// when installed and reported "not installed" otherwise. Configurations that
// other features add are picked up when `kdelay --help` lists them (--verdict,
// which runs the account probe, and --hist), or "--skip account" when
// bundles/account.wasm exists and runs by default.
//
// Sections run alone by name: zx scripts/bench.mjs syscall-cost switch-cost [--runs N]
// [--configs REGEX] (only the configurations whose label matches, beside the untraced one)
// [--cpu-time] (syscall-cost, switch-cost: the target's CPU time per unit of work instead of
// wall time, which other work on a shared machine inflates far more)
// [--baseline-root DIR] (start, syscall-cost, switch-cost, serve: the kdelay of another built checkout beside this one).
// Needs root, clang (the floor is compiled here, scripts/bench/floor.bpf.c), gcc and libbpf's
// headers (libbpf-dev: start's floor links the system's libbpf, the one kdelay loads).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { $, argv, echo, fs, os, path } from 'zx';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const BENCH = path.join(ROOT, 'scripts', 'bench');
const KDELAY = path.join(ROOT, 'bin', 'kdelay.js');
const dist = (p) => path.join(ROOT, 'dist', 'host', p);
const { LibbpfBackend } = await import(dist('libbpf/libbpf-backend.js'));
const { libbpfLog } = await import(dist('libbpf/log.js'));
const { ProbeSet, builtinBundles } = await import(dist('driver/probe-set.js'));
const { SyscallTable, hostArch } = await import(dist('syscalls/table.js'));

libbpfLog.install(false);
const SECTIONS = ['start', 'read-format', 'syscall-cost', 'switch-cost', 'events', 'memory', 'record', 'verdict-memory', 'serve'];
const chosen = argv._.map(String);
for (const name of chosen) if (!SECTIONS.includes(name)) throw new Error(`unknown section ${name} (known: ${SECTIONS.join(', ')})`);
const want = (name) => chosen.length === 0 || chosen.includes(name);
const RUNS = Number(argv.runs ?? 5);
const CPU_TIME = Boolean(argv['cpu-time']);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const min = (xs) => Math.min(...xs);
const fmt = (n, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
const signed = (n, digits = 0) => (n >= 0 ? '+' : '') + fmt(n, digits);
const pad = (s, n) => String(s).padEnd(n);
const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kdelay-bench-'));
const gcc = async (source, name) => {
  const out = path.join(tmp, name);
  await $`gcc -O2 -fno-omit-frame-pointer -pthread -o ${out} ${source}`;
  return out;
};
const workload = (name) => gcc(path.join(ROOT, 'test', 'workloads', `${name}.c`), name);
const which = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim() || undefined;

// ---- tracers: something started against a target PID and stopped after the work --------------

/** Lines of a stream, awaited one predicate at a time. */
function lineWaiter(stream) {
  const lines = [];
  let wake;
  createInterface({ input: stream }).on('line', (l) => {
    lines.push(l);
    wake?.();
  });
  stream.on('close', () => wake?.());
  return async (test, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = lines.findIndex(test);
      if (i >= 0) return lines.splice(0, i + 1)[i];
      if (Date.now() > deadline || stream.destroyed) throw new Error('expected line never came');
      await new Promise((r) => {
        wake = r;
        setTimeout(r, 100);
      });
    }
  };
}

/**
 * How long a kdelay tracer runs before the work starts: its probes detach
 * their warm-up hook (sched_stat_runtime) 2 s after attaching
 * (probes/lib/kdelay.ts: RUNTIME_WARMUP_MS), so the costs measured are
 * those of a run past its first seconds: catch mode, serve, any window
 * after the first. Its first 2 s cost what the hook adds (the
 * "sched_stat_runtime" floor row says how much).
 */
const KDELAY_SETTLE_MS = 2500;

/** A command that runs until SIGINT; ready when a line of its stdout or stderr matches (then settleMs more). */
function commandTracer(label, argvFor, ready, settleMs = 0) {
  return {
    label,
    async start(pid) {
      const t0 = performance.now();
      const child = spawn(argvFor(pid)[0], argvFor(pid).slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
      const closed = new Promise((r) => child.on('close', r));
      const out = lineWaiter(child.stdout);
      const err = lineWaiter(child.stderr);
      let stderrText = '';
      child.stderr.on('data', (d) => (stderrText += d));
      await Promise.race([
        out((l) => ready.test(l)),
        err((l) => ready.test(l)),
        closed.then(() => {
          throw new Error(`${label} exited before it was ready: ${stderrText.trim().split('\n').pop()}`);
        }),
      ]);
      const launchMs = performance.now() - t0;
      if (settleMs) await new Promise((r) => setTimeout(r, settleMs));
      return { child, closed, launchMs };
    },
    async stop({ child, closed }) {
      child.kill('SIGINT');
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await closed;
      clearTimeout(killer);
    },
  };
}

const kdelayTracer = (label, args, kdelay = KDELAY) =>
  commandTracer(label, (pid) => [process.execPath, kdelay, '-p', String(pid), '--sample-time', '600', ...args], /^# Start sampling/, KDELAY_SETTLE_MS);

/**
 * --baseline-root DIR: another built checkout (its bin/kdelay.js, dist/ and
 * bundles/), measured in the same alternation as this one: a before/after
 * of a change, each row marked "before:".
 */
const BASELINE = argv['baseline-root'] ? path.join(path.resolve(String(argv['baseline-root'])), 'bin', 'kdelay.js') : undefined;
const withBaseline = (tracer, args) => (BASELINE ? [tracer, { ...kdelayTracer(`before: ${tracer.label}`, args, BASELINE), ...(tracer.vs ? { vs: tracer.vs } : {}) }] : [tracer]);

/** Programs of the floor object (scripts/bench/floor.bpf.c), loaded through kdelay's own libbpf backend. */
let floorElf;
const floorTracer = (label, programs) => ({
  label,
  async start(pid) {
    const t0 = performance.now();
    const backend = new LibbpfBackend();
    const obj = backend.open(floorElf, 'floor');
    const tgid = Buffer.alloc(4);
    tgid.writeUInt32LE(pid);
    obj.setGlobal('target_tgid', tgid);
    for (const p of [
      'floor_sys_enter',
      'floor_sys_exit',
      'floor_sched_switch',
      'floor_sched_wakeup',
      'floor_sched_wakeup_new',
      'floor_sched_stat_runtime',
      'floor_clock_enter',
      'floor_clock_exit',
      'floor_stack_walk',
    ]) {
      obj.setAutoload(p, programs.includes(p));
    }
    obj.load();
    for (const p of programs) obj.attach(p);
    return { obj, launchMs: performance.now() - t0 };
  },
  async stop({ obj }) {
    obj.close();
  },
});

const untraced = { label: 'untraced', start: async () => ({ launchMs: 0 }), stop: async () => {} };

/** kdelay serve with its probes attached and read every second (nobody scrapes): the idle cost of leaving it running, beside the default probes' window. */
const serveTracer = (label = 'kdelay serve (idle, read every 1 s)', kdelay = KDELAY) => ({
  ...commandTracer(label, (pid) => [process.execPath, kdelay, 'serve', '-p', String(pid), '--listen', '127.0.0.1:0'], /serving process/, KDELAY_SETTLE_MS),
  vs: 'kdelay all probes',
});
const serveTracers = () => [serveTracer(), ...(BASELINE ? [serveTracer('before: kdelay serve (idle, read every 1 s)', BASELINE)] : [])];

/** Peers: the tools a user would otherwise pick. */
const BPFTRACE = which('bpftrace');
const SYSCOUNT = which('syscount') ?? which('bpf-syscount');
const RUNQLAT = which('runqlat') ?? which('bpf-runqlat');
// stdbuf: libbpf-tools print their "Tracing ..." line with stdio, fully buffered into a pipe.
const STDBUF = which('stdbuf');
const peer = (binary, label, argvFor, ready) =>
  binary ? commandTracer(label, (pid) => [...(STDBUF ? [STDBUF, '-oL', '-eL'] : []), ...argvFor(pid)], ready) : { label, missing: true };
const bpftraceTracer = peer(BPFTRACE, 'bpftrace per-thread script', (pid) => [BPFTRACE, '-B', 'line', path.join(BENCH, 'kdelay-stats.bt'), String(pid)], /^ready$/);

/**
 * Configurations that features of other issues add, picked up when present:
 * the account probe (on with --verdict where the CLI has it, else by
 * default, then measured off with --skip account) and --hist.
 */
const help = spawnSync(process.execPath, [KDELAY, '--help'], { encoding: 'utf8' }).stdout;
const HAS_ACCOUNT = fs.existsSync(path.join(ROOT, 'bundles', 'account.wasm'));
const HAS_VERDICT = /--verdict\b/.test(help);
const HAS_HIST = /--hist\b/.test(help);
const HAS_CATCH = /--catch-long-poll\b/.test(help);
const featureTracers = () => [
  HAS_VERDICT
    ? kdelayTracer('kdelay --verdict (account probe on)', ['--verdict'])
    : HAS_ACCOUNT
      ? kdelayTracer('kdelay all but account (--skip account)', ['--skip', 'account'])
      : { label: 'kdelay with the account probe', missing: 'no bundles/account.wasm in this checkout' },
  HAS_HIST ? kdelayTracer('kdelay --hist', ['--hist']) : { label: 'kdelay --hist', missing: 'this kdelay has no --hist' },
  // Catch mode while nothing is caught: --verdict's probes, the gate open and a snapshot collected every 100 ms and kept, both thresholds armed.
  HAS_CATCH
    ? commandTracer(
        'kdelay --catch-long-poll/--catch-syscall 1000',
        (pid) => [process.execPath, KDELAY, '-p', String(pid), '--catch-long-poll', '1000', '--catch-syscall', '1000'],
        /^# Watching/,
        KDELAY_SETTLE_MS,
      )
    : { label: 'kdelay catch mode', missing: 'this kdelay has no --catch-long-poll' },
  // The same without the account probe (and so without caught windows' verdicts): what catching itself adds to the default probes.
  HAS_CATCH
    ? commandTracer(
        'kdelay --catch-... 1000 --skip account',
        (pid) => [process.execPath, KDELAY, '-p', String(pid), '--catch-long-poll', '1000', '--catch-syscall', '1000', '--skip', 'account'],
        /^# Watching/,
        KDELAY_SETTLE_MS,
      )
    : { label: 'kdelay catch mode --skip account', missing: 'this kdelay has no --catch-long-poll' },
];

/**
 * Runs `measure(tracer)` RUNS times for every tracer, alternating, and
 * prints each one's median and min beside the untraced one (the first).
 * `unit` names what one value is; values are ns per unit of work.
 */
async function compare(title, allTracers, measure, { floorLabel } = {}) {
  // --configs REGEX: only the configurations whose label matches (and the untraced baseline).
  const tracers = allTracers.filter((t, i) => i === 0 || !argv.configs || new RegExp(argv.configs).test(t.label));
  const usable = tracers.filter((t) => !t.missing);
  const values = new Map(usable.map((t) => [t, []]));
  const launches = new Map(usable.map((t) => [t, []]));
  for (let run = 0; run < RUNS; run++) {
    for (const t of usable) {
      try {
        const { ns, launchMs } = await measure(t);
        values.get(t).push(ns);
        if (launchMs) launches.get(t).push(launchMs);
      } catch (err) {
        t.failed = err.message;
        values.delete(t);
        usable.splice(usable.indexOf(t), 1);
      }
    }
  }
  echo(title);
  const base = values.get(tracers[0]);
  // Each row's floor: its own `vs`, else floorLabel; floors themselves get no ratio.
  const floorOf = (t) => [...values].find(([f]) => f.label === (t.vs ?? floorLabel))?.[1];
  const floor = floorLabel && floorOf({});
  const added = (xs) => median(xs) - median(base);
  echo(`  ${pad('', 46)} ${pad('median', 9)} ${pad('(min)', 9)} ${pad('added', 9)} ${pad('(min)', 9)} ${floor ? 'x floor (min)  ' : ''} launch ms`);
  for (const t of tracers) {
    if (t.missing || t.failed) {
      echo(`  ${pad(t.label, 46)} ${t.failed ? `failed: ${t.failed}` : typeof t.missing === 'string' ? t.missing : 'not installed'}`);
      continue;
    }
    const xs = values.get(t);
    const isBase = t === tracers[0];
    // The ratio of the medians' added cost, and in brackets of the mins' (steadier on a shared VM).
    const fl = floorOf(t);
    const ratio =
      floor && !isBase && !t.label.startsWith('floor') ? `${fmt(added(xs) / added(fl), 2)}x (${fmt((min(xs) - min(base)) / (min(fl) - min(base)), 2)}x)`.padEnd(15) : ''.padEnd(15);
    const launch = launches.get(t).length ? `${fmt(median(launches.get(t)))} (${fmt(min(launches.get(t)))})` : '';
    echo(
      `  ${pad(t.label, 46)} ${pad(fmt(median(xs), 1), 9)} ${pad(`(${fmt(min(xs), 1)})`, 9)} ${pad(isBase ? '' : signed(added(xs)), 9)} ${pad(isBase ? '' : `(${signed(min(xs) - min(base))})`, 9)} ${floor ? ratio : ''} ${launch}`,
    );
  }
}

// ---- start ---------------------------------------------------------------------------------------

/** CPU time (ms) of every thread of a live process so far: /proc's schedstat, in nanoseconds, per task. */
function cpuMsOf(pid) {
  let ns = 0;
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return ns / 1e6;
}

/** CPU time (ms) of this process's children that have been waited for (/proc/self/stat cutime + cstime: clock ticks, 10 ms). */
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
function waitedChildrenCpuMs() {
  const fields = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / CLOCK_TICKS;
}

async function spawnUntilLine(args, pattern, env = {}, command = process.execPath) {
  const t0 = performance.now();
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const stderr = [];
  createInterface({ input: child.stderr }).on('line', (l) => stderr.push(l));
  const closed = new Promise((r) => child.on('close', r));
  const wait = lineWaiter(child.stdout);
  await wait((l) => pattern.test(l));
  const ms = performance.now() - t0;
  // Read at the line, before the sampling (and the stop) adds any.
  const cpuMs = cpuMsOf(child.pid);
  child.kill('SIGINT');
  await closed;
  return { ms, cpuMs, stderr };
}

if (want('start')) {
  const sleeper = spawn('sleep', ['600']);
  // This checkout's kdelay, and with --baseline-root another built checkout's, alternated with `node -e 0`.
  const builds = [{ label: 'kdelay', bin: KDELAY }, ...(BASELINE ? [{ label: 'before', bin: BASELINE }] : [])].map((b) => ({
    ...b,
    version: [],
    sampling: [],
    cpu: [],
    pairs: [],
    phases: new Map(),
  }));
  const node0 = [],
    node0Cpu = [];
  // The independent floor: this checkout's libbpf calls up to "# Start sampling", written down from
  // a real run (bench/start-journal.mjs) and replayed by libbpf in C (bench/start-floor.c): the
  // kernel's and libbpf's share of a start, which no Node tool can go below. Timed to its
  // "attached" line, beside the same program with nothing to replay (a C process's own start).
  const journalDir = path.join(tmp, 'start-journal');
  await fs.mkdirp(journalDir);
  await $`node ${path.join(BENCH, 'start-journal.mjs')} ${journalDir} ${sleeper.pid}`.quiet();
  const floorBin = path.join(tmp, 'start-floor');
  const floorBuilt = await $`gcc -O2 -Wall -o ${floorBin} ${path.join(BENCH, 'start-floor.c')} -lbpf`.nothrow().quiet();
  const journal = path.join(journalDir, 'journal.txt');
  const floors = floorBuilt.ok
    ? [
        { label: 'C process start (start-floor, nothing to replay)', args: [] },
        { label: 'libbpf in C, heap as kdelay prepares it', args: ['--reuse-heap', journal] },
        { label: "libbpf in C, glibc's default heap", args: [journal] },
      ].map((f) => ({ ...f, ms: [], cpu: [] }))
    : [];
  for (let i = 0; i < Math.max(RUNS, 10); i++) {
    let t0 = performance.now();
    const cpu0 = waitedChildrenCpuMs();
    spawnSync(process.execPath, ['-e', '0']);
    const node0Ms = performance.now() - t0;
    node0.push(node0Ms);
    node0Cpu.push(waitedChildrenCpuMs() - cpu0);
    for (const f of i % 2 ? [...floors].reverse() : floors) {
      const { ms, cpuMs } = await spawnUntilLine(f.args, /^attached$/, {}, floorBin);
      f.ms.push(ms);
      f.cpu.push(cpuMs);
    }
    for (const b of i % 2 ? [...builds].reverse() : builds) {
      t0 = performance.now();
      spawnSync(process.execPath, [b.bin, '--version']);
      b.version.push(performance.now() - t0);
      const { ms, cpuMs, stderr } = await spawnUntilLine([b.bin, '-p', String(sleeper.pid), '--sample-time', '600'], /^# Start sampling/, { KDELAY_TIMING: '1' });
      b.sampling.push(ms);
      b.cpu.push(cpuMs);
      b.pairs.push(ms - node0Ms);
      // Phase durations from the marks (host/base/timing.ts), each from the previous mark. The
      // probes' libbpf loads are timed from their own begin to their end (libbpf-backend.ts).
      let last = 0;
      const begins = new Map();
      const add = (label, ms) => b.phases.set(label, [...(b.phases.get(label) ?? []), ms]);
      for (const line of stderr) {
        const m = /^kdelay-timing ([\d.]+) (.*)$/.exec(line);
        if (!m) continue;
        const at = Number(m[1]);
        if (m[2].startsWith('load begin ')) {
          begins.set(m[2].slice(11), at);
          continue;
        }
        if (m[2].startsWith('load end ')) {
          const name = m[2].slice(9);
          add(`  libbpf load ${name}, own time`, at - begins.get(name));
          continue;
        }
        add(m[2], at - last);
        last = at;
      }
    }
  }
  sleeper.kill();
  // Alternated in one loop, so each kdelay start has a `node -e 0` from the same moment beside it:
  // the added time is reported as the median (and min) of those pairs' differences too.
  const cols = builds.map((b) => pad(b.label === 'kdelay' ? 'this checkout' : `before (${String(argv['baseline-root'])})`, 26)).join(' ');
  const row = (label, f) => echo(`  ${pad(label, 44)} ${builds.map((b) => pad(f(b), 26)).join(' ')}`);
  const mm = (xs, sign = false) => (sign ? `${signed(median(xs))} (${signed(min(xs))})` : `${fmt(median(xs))} (${fmt(min(xs))})`);
  echo(`launch -> sampling (spawn to "# Start sampling", ${node0.length} runs alternated with node -e 0; load average ${os.loadavg()[0].toFixed(1)}), median (min):`);
  echo(`  ${pad('', 44)} ${cols}`);
  echo(`  ${pad('node -e 0', 44)} ${mm(node0)}; CPU ${mm(node0Cpu)} (in 10 ms ticks)`);
  row('kdelay --version (node + the CLI bundle)', (b) => mm(b.version));
  row('kdelay -p PID to "# Start sampling"', (b) => mm(b.sampling));
  row('  added to node -e 0 (per alternated pair)', (b) => `${mm(b.pairs, true)}; target <= +60`);
  row('  CPU time of all its threads by then', (b) => mm(b.cpu));
  const [cStart, ...cFloors] = floors;
  if (!cStart) echo(`  the floor (scripts/bench/start-floor.c): not built, libbpf's headers are not installed (apt-get install libbpf-dev)`);
  else {
    echo(`  the floor: the same libbpf calls replayed in C (scripts/bench/start-floor.c), spawn to "attached":`);
    echo(`  ${pad(cStart.label, 44)} ${mm(cStart.ms)}`);
    for (const f of cFloors) echo(`  ${pad(f.label, 44)} ${mm(f.ms)}; added to a C start ${signed(median(f.ms) - median(cStart.ms))}; CPU ${mm(f.cpu)}`);
    const floorAdded = median(cFloors[0].ms) - median(cStart.ms);
    echo(
      `  ${pad('  node -e 0 + that added time (a Node floor)', 44)} ${fmt(median(node0) + floorAdded)}; kdelay above it: ${builds.map((b) => `${b.label} ${signed(median(b.sampling) - median(node0) - floorAdded)}`).join(', ')}`,
    );
  }
  echo(`  where the time goes (ms since the previous mark, the first from the process's start; loads: their own time):`);
  const labels = [...new Set(builds.flatMap((b) => [...b.phases.keys()]))];
  for (const label of labels) row(`  ${label}`, (b) => (b.phases.has(label) ? mm(b.phases.get(label)) : ''));
}

// ---- read-format: a fresh process per run, so the first report is cold -------------------------

if (want('read-format')) {
  const cold = [],
    warm = [],
    read = [],
    rss = [];
  for (let i = 0; i < RUNS; i++) {
    const out = await $`node ${path.join(BENCH, 'report-100k.mjs')}`.quiet();
    const r = JSON.parse(out.stdout);
    cold.push(r.coldMs);
    warm.push(r.warmMs);
    read.push(r.coldReadMs);
    rss.push(r.peakRssMb);
  }
  echo(
    `100k-entry report (read the maps + lay out the text), ${RUNS} fresh processes: cold ${fmt(median(cold), 1)} ms (min ${fmt(min(cold), 1)}; target <= 100), of which reading ${fmt(median(read), 1)}; warm ${fmt(median(warm), 1)} ms (min ${fmt(min(warm), 1)})`,
  );
  echo(`  peak RSS of that process (probes loaded, 100k entries, one cold and 4 warm reports): ${fmt(median(rss))} MB`);
}

// ---- syscall-cost ----------------------------------------------------------------------------------

const compileFloor = async () => {
  if (floorElf) return;
  const arch = { x64: 'x86', arm64: 'arm64' }[process.arch];
  const object = path.join(tmp, 'floor.bpf.o');
  await $`clang -g -O2 -mcpu=v3 -target bpf -D__TARGET_ARCH_${arch} -I${path.join(ROOT, 'probes', 'include')} -Wall -Werror -c ${path.join(BENCH, 'floor.bpf.c')} -o ${object}`;
  floorElf = await fs.readFile(object);
};

if (want('syscall-cost')) {
  await compileFloor();
  const loop = await workload('getppid_loop');
  const tracers = [
    untraced,
    floorTracer('floor: empty sys_enter + sys_exit', ['floor_sys_enter', 'floor_sys_exit']),
    floorTracer('floor + tgid filter + a clock read at each end', ['floor_clock_enter', 'floor_clock_exit']),
    ...withBaseline(kdelayTracer('kdelay all probes', []), []),
    kdelayTracer('kdelay --only syscalls', ['--only', 'syscalls']),
    ...featureTracers(),
    ...(HAS_VERDICT ? withBaseline(kdelayTracer('kdelay --verdict (account probe on)', ['--verdict']), ['--verdict']).slice(1) : []),
    ...serveTracers(),
    bpftraceTracer,
    peer(SYSCOUNT, 'libbpf-tools syscount -L -p', (pid) => [SYSCOUNT, '-L', '-p', String(pid)], /Tracing syscalls/),
  ];
  // getppid in a loop for 1 s on CPU 0 (getppid_loop.c): ns per call.
  await compare(
    `per traced syscall: ${CPU_TIME ? 'CPU ns' : 'ns'} per getppid() of a 1 s loop on CPU 0, ${RUNS} runs each, alternated (target: kdelay all probes <= 1.5x floor)`,
    tracers,
    async (tracer) => {
      const child = spawn(loop, ['1', 'wait'], { stdio: ['pipe', 'pipe', 'inherit'] });
      const next = lineWaiter(child.stdout);
      let handle;
      try {
        handle = await tracer.start(child.pid);
        child.stdin.end('go\n');
        const line = await next((l) => l.startsWith('calls_per_sec'));
        const fields = line.split(' ');
        return { ns: CPU_TIME ? Number(fields[3]) : 1e9 / Number(fields[1]), launchMs: handle.launchMs };
      } finally {
        if (handle) await tracer.stop(handle);
        child.kill();
      }
    },
    { floorLabel: 'floor: empty sys_enter + sys_exit' },
  );
}

// ---- switch-cost -------------------------------------------------------------------------------------

if (want('switch-cost')) {
  await compileFloor();
  const sched = await workload('sched_workload');
  const tracers = [
    untraced,
    floorTracer('floor: empty sched + syscall hooks', [
      'floor_sys_enter',
      'floor_sys_exit',
      'floor_sched_switch',
      'floor_sched_wakeup',
      'floor_sched_wakeup_new',
      'floor_sched_stat_runtime',
    ]),
    // The hooks --only sched attaches in its first 2 s, sched_stat_runtime included (it fires several times per switch), and
    // after them, when it has detached that one (KDELAY_SETTLE_MS): its floor here.
    floorTracer('floor: empty sched hooks', ['floor_sched_switch', 'floor_sched_wakeup', 'floor_sched_wakeup_new', 'floor_sched_stat_runtime']),
    floorTracer('floor: empty sched hooks but sched_stat_runtime', ['floor_sched_switch', 'floor_sched_wakeup', 'floor_sched_wakeup_new']),
    ...withBaseline(kdelayTracer('kdelay all probes', []), []),
    ...withBaseline({ ...kdelayTracer('kdelay --only sched', ['--only', 'sched']), vs: 'floor: empty sched hooks but sched_stat_runtime' }, ['--only', 'sched']),
    ...featureTracers(),
    ...(HAS_VERDICT ? withBaseline(kdelayTracer('kdelay --verdict (account probe on)', ['--verdict']), ['--verdict']).slice(1) : []),
    ...serveTracers(),
    bpftraceTracer,
    peer(RUNQLAT, 'libbpf-tools runqlat -p', (pid) => [RUNQLAT, '-p', String(pid)], /Tracing run queue latency/),
  ];
  // Two threads on CPU 0 passing a byte through pipes for 1 s: 2 switches, 2 wake-ups, 4 syscalls per round trip.
  await compare(
    `per context switch: ${CPU_TIME ? 'CPU ns' : 'ns'} per pingpong round trip (2 switches, 2 wake-ups, 4 syscalls) on CPU 0, ${RUNS} runs each, alternated (targets: --only sched <= runqlat -p; all probes <= +3,500)`,
    tracers,
    async (tracer) => {
      const child = spawn(sched, ['pingpong', '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const next = lineWaiter(child.stdout);
      let handle;
      try {
        await next((l) => l.startsWith('ready'));
        handle = await tracer.start(child.pid);
        child.kill('SIGUSR1');
        const done = await next((l) => l.startsWith('done'));
        const fields = done.split(' ');
        return { ns: CPU_TIME ? Number(fields[4]) : 1e9 / Number(fields[2]), launchMs: handle.launchMs };
      } finally {
        if (handle) await tracer.stop(handle);
        child.kill('SIGTERM');
      }
    },
    { floorLabel: 'floor: empty sched + syscall hooks' },
  );
}

// ---- events ----------------------------------------------------------------------------------------

if (want('events')) {
  await compileFloor();
  const events = await workload('events_workload');
  const backend = new LibbpfBackend();
  const syscalls = SyscallTable.for(hostArch());
  const bundles = builtinBundles(ROOT).filter((b) => b.manifest.name === 'syscalls');
  const CALLS = 2_000_000;
  // In process: the collector drains the ring on this event loop, as the CLI's does.
  const kdelayEvents = (label, stackTraceSize) => ({
    label,
    async start(pid) {
      const probes = await ProbeSet.start(backend, bundles, { targetTgid: pid, syscalls, syscallEvents: { minNs: 0, skipPoll: false, stackTraceSize, ringBytes: 1024 * 4096 } });
      probes.gate.open();
      return { probes };
    },
    async stop({ probes }) {
      probes.gate.close();
      const sample = probes.collect();
      this.drained = sample.events.length;
      this.lost = Number(sample.warnings.map((w) => /(\d+) were dropped/.exec(w)?.[1]).find(Boolean) ?? 0);
      await probes.close();
    },
  });
  const tracers = [
    untraced,
    floorTracer('floor: empty sys_enter + sys_exit', ['floor_sys_enter', 'floor_sys_exit']),
    kdelayEvents('kdelay -s 0 --stack-trace-size 0', 0),
    floorTracer('floor: stack walks alone (sys_exit)', ['floor_sys_enter', 'floor_stack_walk']),
    { ...kdelayEvents('kdelay -s 0 (stacks)', 4096), vs: 'floor: stack walks alone (sys_exit)' },
  ];
  const drained = new Map(tracers.map((t) => [t, []]));
  await compare(
    `-s events: ns per getppid() of ${CALLS / 1e6} M calls from frame-pointer code (events_workload.c), ${RUNS} runs each, alternated (target with stacks: <= 1.5x the stack walks alone)`,
    tracers,
    async (tracer) => {
      const child = spawn(events, ['1', String(CALLS), '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const next = lineWaiter(child.stdout);
      let handle;
      try {
        await next((l) => l.startsWith('ready'));
        handle = await tracer.start(child.pid);
        const t0 = performance.now();
        child.kill('SIGUSR1');
        await next((l) => l.startsWith('done'));
        const seconds = (performance.now() - t0) / 1000;
        await tracer.stop(handle);
        handle = undefined;
        if (tracer.drained !== undefined) drained.get(tracer).push({ rate: tracer.drained / seconds, lost: tracer.lost, drained: tracer.drained });
        return { ns: (seconds * 1e9) / CALLS };
      } finally {
        if (handle) await tracer.stop(handle);
        child.kill('SIGTERM');
      }
    },
    { floorLabel: 'floor: empty sys_enter + sys_exit' },
  );
  for (const [t, runs] of drained) {
    if (!runs.length) continue;
    const rates = runs.map((r) => r.rate / 1e6);
    echo(
      `  ${t.label}: drained live ${fmt(median(rates), 2)} M events/s (min ${fmt(min(rates), 2)}), lost ${runs.map((r) => r.lost).join(' ')} of ${runs[0].drained + runs[0].lost} (target >= 2 M/s, 0 lost without stacks)`,
    );
  }
}

// ---- memory: RSS of the CLI over many samples of a 2,000-thread target ------------------------------

if (want('memory')) {
  const threads = await gcc(path.join(BENCH, 'many_threads.c'), 'many_threads');
  const target = spawn(threads, ['2000', '100'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await lineWaiter(target.stdout)((l) => l.startsWith('ready'));
  const SAMPLES = Number(argv.samples ?? 1000);
  const marks = [10, 100, 300, SAMPLES];
  // Twice: how the heap settles varies from run to run (driver/memory-policy.ts).
  for (const run of [1, 2]) {
    const child = spawn(process.execPath, [KDELAY, '-p', String(target.pid), '--sample-time', '0.02', '--sample-count', String(SAMPLES)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const closed = new Promise((r) => child.on('close', r));
    const rssMb = () => Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]) / 1024;
    const at = new Map();
    let samples = 0,
      rows = 0;
    const t0 = performance.now();
    // RSS when the report of sample N begins (the last one: while it is printed).
    createInterface({ input: child.stdout }).on('line', (l) => {
      if (l.startsWith('# Sample dump') && marks.includes(++samples)) at.set(samples, rssMb());
      else if (/^ {0,9}\d+ \S/.test(l)) rows++;
    });
    await closed;
    const seconds = (performance.now() - t0) / 1000;
    const first = at.get(10),
      last = at.get(SAMPLES);
    echo(
      `memory (run ${run} of 2): kdelay's RSS over ${SAMPLES} samples of 20 ms of a 2,000-thread target (each thread wakes every 100 ms; ${fmt(rows / SAMPLES)} threads reported per sample), ${fmt(seconds)} s:`,
    );
    echo(`  ${marks.map((n) => `after ${n} ${fmt(at.get(n), 1)} MB`).join(', ')}: ${signed(((last - first) / first) * 100, 1)}% from 10 to ${SAMPLES} (target within 10%)`);
  }
  target.kill('SIGKILL');
}

// ---- record: --write's cost on a 2,000-thread target, and replaying the recording --------------------

if (want('record')) {
  const threads = await gcc(path.join(BENCH, 'many_threads.c'), 'many_threads');
  const target = spawn(threads, ['2000', '100'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await lineWaiter(target.stdout)((l) => l.startsWith('ready'));
  const SAMPLES = Number(argv.samples ?? 1000);
  const file = path.join(tmp, 'run.kdelay');
  const timed = (args) => {
    const t0 = performance.now();
    // Write-only /dev/null: kdelay takes a read-write one (stdio 'ignore') for a closed stdout.
    const devNull = fs.openSync('/dev/null', 'w');
    const r = spawnSync(process.execPath, [KDELAY, ...args], { stdio: ['ignore', devNull, 'inherit'] });
    fs.closeSync(devNull);
    if (r.status !== 0) throw new Error(`kdelay ${args.join(' ')}: exit ${r.status}`);
    return (performance.now() - t0) / 1000;
  };
  const live = ['-p', String(target.pid), '--sample-time', '0.02', '--sample-count', String(SAMPLES)];
  const plain = [],
    writing = [],
    text = [],
    json = [];
  // Alternated, --runs times (each run is SAMPLES windows of 20 ms: about half a minute).
  for (let run = 0; run < Math.min(RUNS, 3); run++) {
    plain.push(timed(live));
    writing.push(timed([...live, '--write', file]));
    text.push(timed(['report', file]));
    json.push(timed(['report', file, '--json']));
  }
  const bytes = fs.statSync(file).size;
  const ndjson = execFileSync('sh', ['-c', `gzip -dc ${file} | wc -c`], { encoding: 'utf8' }).trim();
  target.kill('SIGKILL');
  const mb = (n) => fmt(Number(n) / 2 ** 20, 1);
  echo(`record: ${SAMPLES} samples of 20 ms of a 2,000-thread target, median (min) of ${plain.length} alternated runs:`);
  echo(
    `  run without --write ${fmt(median(plain), 1)} s (${fmt(min(plain), 1)}), with --write ${fmt(median(writing), 1)} s (${fmt(min(writing), 1)}): ${signed(((median(writing) - median(plain)) / median(plain)) * 100, 1)}%`,
  );
  echo(`  file ${mb(bytes)} MB gzip (${fmt(bytes / SAMPLES / 1024, 1)} KiB a sample), ${mb(ndjson)} MB of NDJSON inside: gzip makes it ${fmt(Number(ndjson) / bytes, 1)}x smaller`);
  echo(`  kdelay report FILE ${fmt(median(text), 1)} s (${fmt(min(text), 1)}), --json ${fmt(median(json), 1)} s (${fmt(min(json), 1)})`);
}

// ---- verdict-memory: guest memory and RSS with --verdict's probes under thread churn ---------------

if (want('verdict-memory')) {
  const churn = await workload('verdict_workload');
  const steady = await gcc(path.join(BENCH, 'many_threads.c'), 'many_threads');
  const backend = new LibbpfBackend();
  const syscalls = SyscallTable.for(hostArch());
  const SAMPLES = Number(argv['churn-samples'] ?? 300);
  const WINDOW_MS = Number(argv['window-ms'] ?? 100);
  const marks = [...new Set([10, 100, Math.round(SAMPLES / 2), SAMPLES])];
  // The bundles of this checkout, and with --baseline-ref those of another commit (bundles/ and keys/ from git).
  const roots = [['this checkout', ROOT]];
  if (argv['baseline-ref']) {
    const root = path.join(tmp, 'baseline');
    for (const dir of ['bundles', 'keys']) {
      await fs.mkdirp(path.join(root, dir));
      for (const file of (await $`git -C ${ROOT} ls-tree --name-only ${argv['baseline-ref']} ${dir}/`).stdout.trim().split('\n')) {
        await fs.writeFile(path.join(root, file), execFileSync('git', ['-C', ROOT, 'show', `${argv['baseline-ref']}:${file}`], { maxBuffer: 1 << 28 }));
      }
    }
    roots.push([`bundles of ${argv['baseline-ref']}`, root]);
  }
  const targets = [
    ['steady: 2,000 threads waking every 100 ms', steady, ['2000', '100'], false],
    ['churn: 1,000 new threads a second', churn, ['churn', '1000'], true],
  ];
  for (const [which, root] of roots) {
    const bundles = builtinBundles(root).filter((b) => ['account', 'sched'].includes(b.manifest.name));
    for (const [label, binary, args, go] of targets) {
      const target = spawn(binary, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      await lineWaiter(target.stdout)((l) => l.startsWith('ready'));
      if (go) target.kill('SIGUSR1');
      const threads = fs.readdirSync(`/proc/${target.pid}/task`).length;
      const probes = await ProbeSet.start(backend, bundles, { targetTgid: target.pid, syscalls, hostValues: { 'target.threads': BigInt(threads), 'histograms.enabled': 1n } });
      const at = new Map();
      const collectMs = [];
      let accounts = 0;
      for (let i = 1; i <= SAMPLES; i++) {
        probes.gate.open();
        await new Promise((r) => setTimeout(r, WINDOW_MS));
        probes.gate.close();
        const t0 = performance.now();
        const sample = probes.collect();
        collectMs.push(performance.now() - t0);
        accounts += new Set(Array.from({ length: sample.tables.get('account')?.count ?? 0 }, (_, r) => sample.tables.get('account').tid(r))).size;
        probes.reset();
        probes.gate.idle();
        if (marks.includes(i)) at.set(i, { guests: probes.guestMemoryBytes(), rss: process.memoryUsage().rss / 2 ** 20 });
      }
      await probes.close();
      target.kill('SIGKILL');
      const mb = (n) => fmt(n / 2 ** 20, 1);
      echo(
        `verdict-memory (${which}), ${label}: ${SAMPLES} samples of ${WINDOW_MS} ms, ${fmt(accounts / SAMPLES)} threads accounted per sample, collect ${fmt(median(collectMs), 1)} ms median:`,
      );
      for (const probe of ['account', 'sched']) {
        echo(`  ${probe} guest memory: ${marks.map((n) => `after ${n} ${mb(at.get(n).guests.get(probe))} MB`).join(', ')}`);
      }
      echo(`  RSS: ${marks.map((n) => `after ${n} ${fmt(at.get(n).rss, 1)} MB`).join(', ')}`);
    }
  }
}

// ---- serve: a scrape of a 2,000-thread target, its RSS ------------------------------------------------

if (want('serve')) {
  const threads = await gcc(path.join(BENCH, 'many_threads.c'), 'many_threads');
  const target = spawn(threads, ['2000', '100'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await lineWaiter(target.stdout)((l) => l.startsWith('ready'));
  // This kdelay and, with --baseline-root, the other one, each in turn on the same target, --runs rounds of 20 scrapes.
  const kdelays = [['kdelay serve', KDELAY], ...(BASELINE ? [['before: kdelay serve', BASELINE]] : [])].map(([label, bin]) => ({
    label,
    bin,
    scrapeMs: [],
    floorMs: [],
    rssMb: [],
    readMs: [],
  }));
  // Until the last byte, with as little client as can be (node:http, bytes kept as they come, decoded after the clock stops):
  // fetch()'s decoding of 2 MB took more than the server's whole answer on this VM.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (port, p) =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      http
        .get({ host: '127.0.0.1', port, path: p, agent }, (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const ms = performance.now() - t0;
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ ms, bytes: text.length, text });
          });
          res.on('error', reject);
        })
        .on('error', reject);
    });
  let last;
  try {
    for (let round = 0; round < Math.max(1, Math.min(RUNS, 3)); round++) {
      for (const k of kdelays) {
        const child = spawn(process.execPath, [k.bin, 'serve', '-p', String(target.pid), '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
        child.stdout.resume();
        const closed = new Promise((r) => child.on('close', r));
        const err = lineWaiter(child.stderr);
        try {
          const port = Number(/:(\d+)\/metrics/.exec(await err((l) => /serving metrics on/.test(l), 120_000))[1]);
          await err((l) => /serving process/.test(l), 120_000);
          // Two reads, so every thread has rows.
          await new Promise((r) => setTimeout(r, 2500));
          // 100 ms apart against reads every 1 s of 100-400 ms each: many scrapes come while a read is going on.
          for (let i = 0; i < 20; i++) {
            last = await get(port, '/metrics');
            k.scrapeMs.push(last.ms);
            k.floorMs.push((await get(port, '/')).ms);
            await new Promise((r) => setTimeout(r, 100));
          }
          k.rssMb.push(Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]) / 1024);
          k.readMs.push(Number(/^kdelay_read_seconds (\S+)$/m.exec(last.text)?.[1]) * 1000);
        } finally {
          child.kill('SIGINT');
          await closed;
        }
      }
    }
  } finally {
    agent.destroy();
    target.kill('SIGKILL');
  }
  const series = last.text.split('\n').filter((l) => l && !l.startsWith('#')).length;
  const tids = new Set([...last.text.matchAll(/tid="(\d+)"/g)].map((m) => m[1])).size;
  echo(
    `serve: kdelay serve on a 2,000-thread target (${tids} threads in the labels, ${series} samples, ${fmt(last.bytes / 1e6, 1)} MB of text), scrapes alternated with GET / (the HTTP floor), ms median (min) [max]:`,
  );
  for (const k of kdelays) {
    echo(
      `  ${pad(k.label, 22)} scrape /metrics ${fmt(median(k.scrapeMs), 1)} (${fmt(min(k.scrapeMs), 1)}) [${fmt(Math.max(...k.scrapeMs), 1)}]; GET / ${fmt(median(k.floorMs), 1)} (${fmt(min(k.floorMs), 1)}) [${fmt(Math.max(...k.floorMs), 1)}]; ${k.scrapeMs.length} scrapes`,
    );
    echo(`  ${pad('', 22)} RSS ${fmt(median(k.rssMb), 1)} MB; a background read of the probes (every 1 s) took ${fmt(median(k.readMs), 1)} ms (target: scrape <= 20 ms)`);
  }
  await $({ stdio: 'inherit' })`node ${path.join(BENCH, 'serve-scrape.mjs')} --runs ${Math.max(RUNS, 10)}`;
}

await fs.remove(tmp);
if (want('events')) await $({ stdio: 'inherit' })`zx ${path.join(ROOT, 'scripts', 'bench-symbols.mjs')}`;
