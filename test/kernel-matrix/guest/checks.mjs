// Runs inside a kernel-matrix guest (started by /init): drives the real
// kdelay against test/workloads/matrix_workload.c and prints what happened,
// one `KDELAY-MATRIX {json}` line per fact or check, for the host test to
// judge (test/kernel-matrix/matrix.test.ts). Nothing is asserted here: the guest
// only reports, so a failure is explained on the host with the whole output.
//
// /matrix/config.json: { rounds, getppids, spinMs, gapMs, triggerSamples, checkTimeoutMs, loads }
// (loads: scripts/lib/kernel-matrix-loads.mjs's LOAD_CONFIGURATIONS, with each run's arguments)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { release } from 'node:os';

const config = JSON.parse(readFileSync('/matrix/config.json', 'utf8'));
const KDELAY = '/kdelay/bin/kdelay.js';
// The repository's unsigned development builds, which only their own checkout admits without it.
const KDELAY_ARGS = config.allowUnsigned ? ['--allow-unsigned'] : [];
const WORKLOAD = '/matrix/matrix_workload';

function emit(type, data) {
  process.stdout.write(`KDELAY-MATRIX ${JSON.stringify({ type, ...data })}\n`);
}

const readOr = (file, fallback) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
};

/** A child whose output is collected; `until(stream, re)` resolves when it printed re (false if it exited first). */
function start(command, args) {
  const child = spawn(command, args.map(String), { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  const watchers = [];
  const poke = () => {
    for (const w of watchers.splice(0)) {
      if (w.re.test(out[w.stream])) w.resolve(true);
      else if (child.exitCode !== null || child.signalCode !== null) w.resolve(false);
      else watchers.push(w);
    }
  };
  child.stdout.on('data', (d) => ((out.stdout += d), poke()));
  child.stderr.on('data', (d) => ((out.stderr += d), poke()));
  const done = new Promise((resolve) => child.on('close', (code, signal) => (poke(), resolve({ code, signal, ...out }))));
  const until = (stream, re) => new Promise((resolve) => (watchers.push({ stream, re, resolve }), poke()));
  return { child, out, done, until };
}

/** A timer that does not keep the guest's Node alive once the checks are done. */
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref());

/** Runs one check with a deadline; whatever it collected is reported either way. */
async function check(name, body, timeoutMs = config.checkTimeoutMs) {
  const started = Date.now();
  const record = { name, steps: [] };
  const step = (what) => record.steps.push(`${Date.now() - started} ms: ${what}`);
  const timeout = delay(timeoutMs).then(() => 'timeout');
  let outcome;
  try {
    outcome = await Promise.race([body(record, step).then(() => 'finished'), timeout]);
  } catch (err) {
    outcome = `error: ${err.stack ?? err}`;
  }
  for (const child of record.children ?? []) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  delete record.children;
  emit('check', { ...record, outcome, ms: Date.now() - started });
}

async function startWorkload(record, step, rounds = config.rounds) {
  const workload = start(WORKLOAD, [rounds, config.getppids, config.spinMs, config.gapMs]);
  (record.children ??= []).push(workload.child);
  if (!(await workload.until('stdout', /^ready \d+$/m))) throw new Error(`workload did not start: ${workload.out.stderr}`);
  step(`workload ${workload.child.pid} ready`);
  return workload;
}

function kdelay(record, args) {
  const run = start('node', [KDELAY, ...KDELAY_ARGS, ...args]);
  record.children.push(run.child);
  return run;
}

/**
 * After a failed run: the same arguments again with -D, for libbpf's log
 * (the verifier's reason). Stopped at once should it get as far as sampling.
 */
async function debugLog(record, args) {
  const run = kdelay(record, [...args, '-D']);
  const started = Promise.race([run.until('stdout', /^# Start sampling/m), run.until('stderr', /waiting for/)]);
  if (await started) run.child.kill('SIGINT');
  return (await run.done).stderr.slice(-16_000);
}

const kprobes = () => readOr('/sys/kernel/debug/kprobes/list', undefined);

// Facts about the guest.
const nodeStart = Date.now();
spawnSync('node', ['-e', '0']);
const kprobePmu = existsSync('/sys/bus/event_source/devices/kprobe');
emit('facts', {
  kernel: release(),
  arch: process.arch,
  node: process.version,
  nodeStartMs: Date.now() - nodeStart,
  btf: existsSync('/sys/kernel/btf/vmlinux'),
  openvswitch: existsSync('/sys/module/openvswitch'),
  kprobePmu,
  libbpf: ['/lib', '/usr/lib'].flatMap((dir) =>
    readdirSync(dir)
      .filter((d) => d.endsWith('-linux-gnu'))
      .flatMap((d) =>
        readdirSync(`${dir}/${d}`)
          .filter((f) => f.startsWith('libbpf.so'))
          .map((f) => `${dir}/${d}/${f}`),
      ),
  ),
  uptimeS: Number(readOr('/proc/uptime', '0').split(' ')[0]),
});

// A fixed window around the whole run, in text mode: the reference's layout, which keeps every "not available"
// line (the default layout leaves UPCALL out for a target that is not ovs-vswitchd, as the workload is not).
await check('window', async (record, step) => {
  const workload = await startWorkload(record, step);
  record.workloadPid = workload.child.pid;
  // -D for the one line that says which libbpf kdelay took (the bullseye guest has only libbpf 0.3).
  const args = ['-D', '-p', workload.child.pid, '--sample-time', 600, '--verdict', '--format', 'reference'];
  const run = kdelay(record, args);
  const opened = await run.until('stdout', /^# Start sampling/m);
  step(opened ? 'sampling' : 'kdelay exited before sampling');
  if (opened) {
    record.kprobes = kprobes();
    workload.child.kill('SIGUSR1');
    await workload.until('stdout', /^done$/m);
    step('workload done');
    run.child.kill('SIGINT');
  }
  record.kdelay = await run.done;
  step('kdelay exited');
  record.libbpfChoice = /^kdelay: using libbpf .*$/m.exec(record.kdelay.stderr)?.[0];
  // libbpf's own log stays out of the record: the console is a slow serial line.
  record.kdelay.stderr = record.kdelay.stderr
    .split('\n')
    .filter((line) => !line.startsWith('libbpf: '))
    .join('\n');
  // A probe reported not available may have failed to load: libbpf's log says why.
  if (record.kdelay.code !== 0 || /: not available \(/.test(record.kdelay.stdout)) record.debugLog = await debugLog(record, args);
  workload.child.kill('SIGTERM');
});

// Windows opened and closed by USDT probes in the workload, as JSON.
await check('trigger', async (record, step) => {
  // Rounds to spare: a start that fires while kdelay still reports the last window is missed (a slow
  // guest on a loaded machine missed enough of 4 rounds to wait for ever), and each window holds one round anyway.
  const workload = await startWorkload(record, step, config.triggerSamples * 4);
  record.workloadPid = workload.child.pid;
  const args = ['-p', workload.child.pid, '--json', '--sample-count', config.triggerSamples, '--start-trigger', 'u:kdelay_test:start', '--stop-trigger', 'u:kdelay_test:stop'];
  const run = kdelay(record, args);
  const waiting = await run.until('stderr', /waiting for/);
  step(waiting ? 'waiting for the start trigger' : 'kdelay exited before waiting');
  if (waiting) workload.child.kill('SIGUSR1');
  record.kdelay = await run.done;
  step('kdelay exited');
  if (record.kdelay.code !== 0) record.debugLog = await debugLog(record, args);
  workload.child.kill('SIGTERM');
});

/** Host PIDs of the processes whose status matches re (busybox has no pgrep -f that sees NSpid). */
const processesWith = (re) =>
  readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p) && re.test(readOr(`/proc/${p}/status`, '')))
    .map(Number);
const nsTid = (status) => Number(/^NSpid:\s*(.*)$/m.exec(status)?.[1].split(/\s+/).at(-1));

// kdelay and the workload both inside `unshare -p -f --mount-proc`, no host /proc: the task iterator
// (host/bpf/pid_numbers.bpf.c) finds the kernel's numbers. The report must use the namespace's tids.
await check('pidns', async (record, step) => {
  const script = `${WORKLOAD} ${config.rounds} ${config.getppids} ${config.spinMs} ${config.gapMs} & exec node ${KDELAY} ${KDELAY_ARGS.join(' ')} -p $! --sample-time 600`;
  const run = start('unshare', ['-p', '-f', '--mount-proc', 'sh', '-c', script]);
  (record.children ??= []).push(run.child);
  const ready = (await run.until('stdout', /^ready \d+$/m)) && (await run.until('stdout', /^# Start sampling/m));
  step(ready ? 'sampling' : 'kdelay exited before sampling');
  if (ready) {
    const [workload] = processesWith(/^Name:\s*matrix_workload$/m);
    const [inner] = processesWith(new RegExp(`^PPid:\\s*${run.child.pid}$`, 'm'));
    record.workloadNsPid = nsTid(readOr(`/proc/${workload}/status`, ''));
    process.kill(workload, 'SIGUSR1');
    await run.until('stdout', /^done$/m);
    step('workload done');
    // After "done" the worker has long named itself and lives until SIGTERM.
    for (const tid of readdirSync(`/proc/${workload}/task`)) {
      const status = readOr(`/proc/${workload}/task/${tid}/status`, '');
      if (/^Name:\s*worker$/m.test(status)) record.workerNsTid = nsTid(status);
    }
    process.kill(inner, 'SIGINT'); // kdelay, PID 1 inside: unshare forwards no signals
  }
  record.kdelay = await run.done;
  step('kdelay exited');
  record.kdelay.stderr = record.kdelay.stderr
    .split('\n')
    .filter((line) => !line.startsWith('libbpf: '))
    .join('\n');
});

// Every configuration that changes what a probe loads (scripts/lib/kernel-matrix-loads.mjs), one kdelay
// run each against one workload: loaded and attached once it samples or waits for its start trigger,
// then stopped with SIGINT. One `load` record per configuration.
await check(
  'loads',
  async (record, step) => {
    const workload = await startWorkload(record, step);
    for (const load of config.loads) {
      const started = Date.now();
      if (load.needs === 'kprobes' && !kprobePmu) {
        emit('load', { name: load.name, outcome: 'skipped', why: 'no kprobes', ms: 0 });
        continue;
      }
      // The reference's layout: every probe's "not available" line, UPCALL's too, for a workload that is not ovs-vswitchd.
      const args = [...load.args.map((a) => (a === '$PID' ? workload.child.pid : a)), '--format', 'reference'];
      const run = kdelay(record, args);
      const loaded = await Promise.race([run.until('stdout', /^# (Start sampling|Watching)/m), run.until('stderr', /waiting for/)]);
      const loadedMs = Date.now() - started;
      if (loaded) run.child.kill('SIGINT');
      const result = await run.done;
      result.stderr = result.stderr
        .split('\n')
        .filter((line) => !line.startsWith('libbpf: '))
        .join('\n');
      // stdout's report is not judged here: only its "not available" lines, and a tail to explain a failure.
      const notAvailable = result.stdout.split('\n').filter((l) => /: not available \(/.test(l));
      const out = { name: load.name, outcome: 'finished', loaded, loadedMs, kdelay: { ...result, stdout: result.stdout.slice(-1500) }, notAvailable };
      if (result.code !== 0 || !loaded || notAvailable.length) out.debugLog = await debugLog(record, args);
      emit('load', { ...out, ms: Date.now() - started });
      step(`${load.name}: exit ${result.code}`);
    }
    workload.child.kill('SIGTERM');
  },
  config.loadsTimeoutMs,
);
