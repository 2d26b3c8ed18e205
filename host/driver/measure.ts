/**
 * `kdelay -p PID`: measures a target's per-thread delay, sample by sample.
 * The composition root: the only module that loads the concrete libbpf
 * backend (loadBackend, late, with import()). It wires the pieces tested
 * elsewhere as pure code: the environment's checks (preflight.ts), which
 * probes start (probe-plan.ts), the probes themselves (probe-set.ts), the
 * thread selection (thread-selection.ts), the sampling loop (sampler.ts)
 * and the output sink (report/sinks.ts), with signals, the clock and the
 * target's liveness, and maps failures to exit codes.
 *
 * Over 300 lines on purpose: it is the one place where those pieces meet,
 * in the order a run needs them; each step is a call into a tested module,
 * and splitting the wiring would only scatter that order.
 */
import { ExitCode, UserError } from '../base/exit-codes.js';
import { BpfError } from '../base/errno.js';
import { printable } from '../base/printable.js';
import { timingMark } from '../base/timing.js';
import { ManifestError } from '../bundle/manifest.js';
import type { BpfBackend } from '../libbpf/backend.js';
import type { SampleSink } from '../model/sample.js';
import { OUTPUT_FORMATS } from '../report/sinks.js';
import type { VerdictOptions } from '../report/render-common.js';
import { ProbeError } from '../runtime/probe-guest.js';
import { PAGE_SIZE } from '../runtime/ring-buffer.js';
import { hostArch, SyscallTable } from '../syscalls/table.js';
import { requireBpfCapabilities } from '../system/capabilities.js';
import { KernelFeatures } from '../system/kernel-features.js';
import { PidNamespaces, resolveTarget, type Target, TargetProcess, threadIds, threadName, threadWhereabouts } from '../system/procfs.js';
import { type TaskNumbers, TaskNumbersReader } from '../system/task-numbers.js';
import { type ResolvedTrigger, resolveTrigger, returnProbePlan, triggerOptions } from '../system/trigger-targets.js';
import { admittedBundles } from './admission.js';
import { monotonicNs, nowEpochMicros } from './clock.js';
import { GateState } from './gate.js';
import { Interrupts } from './interrupts.js';
import { holdMemorySteady, reuseMemoryWhileLoading } from './memory-policy.js';
import type { KdelayOptions } from './options.js';
import { checkEventBufferSizes, checkFileDescriptorLimit, checkMemoryLimits, limitFailure, requireKernelBtf } from './preflight.js';
import { planProbes } from './probe-plan.js';
import { probeSetConfig } from './probe-config.js';
import { type CollectedSample, ProbeSet } from './probe-set.js';
import { accountQuietThreads } from './quiet-threads.js';
import { progressLine, terminalHint } from './progress.js';
import { runTimeMode, runTriggerMode, type SamplerIO } from './sampler.js';
import { threadSelector } from './thread-selection.js';
import { createRecording, kdelayVersion, recordingHeader } from './recording.js';
import { recordingTee } from '../report/recording/sink.js';
import { watchForCatches } from './catch-watch.js';

/**
 * Loads libbpf and the backend late, at first use: `--help`, bad options and
 * everything decided before BPF is needed never touch libbpf, and a missing
 * or unusable one is one line and exit 72. With -D, says which libbpf it
 * took and why others were passed over (libbpf/locate.ts).
 */
export async function loadBackend(debug: boolean): Promise<BpfBackend> {
  requireKernelBtf();
  try {
    const { libbpfChoice } = await import('../libbpf/ffi.js');
    if (debug) for (const line of libbpfChoice.description) process.stderr.write(`kdelay: ${line}\n`);
    const { LibbpfBackend } = await import('../libbpf/libbpf-backend.js');
    const { libbpfLog } = await import('../libbpf/log.js');
    libbpfLog.install(debug);
    return new LibbpfBackend();
  } catch (err) {
    throw new UserError(`BPF is unavailable: ${(err as Error).message}`, ExitCode.OSFILE);
  }
}

/** The task iterator's answer (system/task-numbers.ts); a kernel that refuses it is one line saying what else works. */
export function readTaskNumbersOrExplain(reader: TaskNumbersReader): TaskNumbers[] {
  try {
    return reader.read();
  } catch (err) {
    if (err instanceof UserError || !(err instanceof Error)) throw err;
    throw new UserError(
      `kdelay runs in a PID namespace of its own and could not read the kernel's PIDs with a task iterator (${err.message}); ` +
        `run it in the host's PID namespace (--pid=host) or mount the host's /proc at /host/proc or $KDELAY_HOST_PROC`,
      ExitCode.UNAVAILABLE,
    );
  }
}

interface Triggers {
  start?: ResolvedTrigger;
  stop?: ResolvedTrigger;
}

/** Why a trigger probe failed, in words, when the cause is the kernel's. */
function triggerFailure(triggers: Triggers, triggerProbe: string | undefined, err: ProbeError): string | undefined {
  const viaFentry = [triggers.start, triggers.stop].find((t) => t && (t.attachKind === 'fentry' || t.attachKind === 'fexit'));
  if (!viaFentry || !err.message.startsWith(`probe ${triggerProbe}:`)) return undefined;
  return `trigger [${viaFentry.trigger.text}]: this kernel supports neither kprobes (no kprobe PMU: CONFIG_KPROBES is off) nor fentry/fexit (${err.message})`;
}

/**
 * targetThreads: the target's threads now, which probes keeping per-thread
 * state size their maps from (host value `target.threads`).
 */
async function startProbes(backend: BpfBackend, target: Target, triggers: Triggers, options: KdelayOptions, targetThreads: number): Promise<ProbeSet> {
  const entries = admittedBundles(options);
  timingMark('bundles admitted (seals)');
  const plan = planProbes(entries, options, Boolean(triggers.start || triggers.stop), new KernelFeatures(backend), (fn, modules) => returnProbePlan(fn, modules));
  const { triggerProbe } = plan;
  // Options kdelay sets from its own flags and host facts (triggers, attach kinds, -s) win over --probe-option.
  const config = probeSetConfig(target, plan, options, targetThreads, { ...triggerOptions('start', triggers.start), ...triggerOptions('stop', triggers.stop) });
  try {
    return await ProbeSet.start(
      backend,
      entries.map((e) => e.bundle),
      {
        ...config,
        triggers: Boolean(triggers.start || triggers.stop),
        catching: catching(options) ? { longPollNs: msToNs(options.catchLongPollMs), syscallNs: msToNs(options.catchSyscallMs) } : undefined,
        userFunctions: new Map([triggers.start, triggers.stop].flatMap((t) => (t?.location ? [[t.args[0], t.location] as const] : []))),
        syscallEvents:
          options.syscallEvents === undefined
            ? undefined
            : {
                minNs: options.syscallEvents,
                skipPoll: options.skipSyscallPollEvents,
                stackTraceSize: options.stackTraceSize,
                ringBytes: options.bufferPageCount * PAGE_SIZE,
              },
      },
    );
  } catch (err) {
    const limit = err instanceof Error ? limitFailure(err) : undefined;
    if (limit) throw limit;
    if (err instanceof ManifestError) throw new UserError(err.message, options.probeFiles.length ? ExitCode.CONFIG : ExitCode.OSFILE);
    if (err instanceof ProbeError) throw new UserError(triggerFailure(triggers, triggerProbe, err) ?? err.message, ExitCode.OSERR);
    // The gate map is created first: failing there means BPF itself is unusable.
    if (err instanceof BpfError) throw new UserError(`BPF is unavailable: ${err.message}`, ExitCode.OSFILE);
    throw err;
  }
}

/** Catch mode (driver/catch-mode.ts): --catch-long-poll or --catch-syscall. */
const catching = (options: KdelayOptions) => options.catchLongPollMs !== undefined || options.catchSyscallMs !== undefined;
const msToNs = (ms: number | undefined) => (ms === undefined ? undefined : Math.round(ms * 1e6));

/** The resolved target of a run, and how its numbers are read (see "PID namespaces" in ARCHITECTURE.md). */
export interface TargetContext {
  target: Target;
  namespaces: PidNamespaces;
  /** Loaded already when the task iterator translates PIDs; else loaded by measure() when needed. */
  backend?: BpfBackend;
}

/**
 * Resolves -p/-t (or ovs-vswitchd) and runs `use` with it. With no host
 * /proc to translate PIDs, the kernel's task iterator does it, which needs
 * libbpf and BPF rights first; it is unloaded when `use` ends.
 */
export async function withTarget(options: Pick<KdelayOptions, 'pid' | 'tid' | 'debug'>, use: (context: TargetContext) => Promise<number>): Promise<number> {
  timingMark('run');
  const namespaces = PidNamespaces.detect();
  let backend: BpfBackend | undefined;
  let taskNumbers: TaskNumbersReader | undefined;
  try {
    if (namespaces.needsTaskIterator) {
      requireBpfCapabilities();
      backend = await loadBackend(options.debug !== 0);
      const reader = (taskNumbers = new TaskNumbersReader(backend, namespaces.namespaceInode()));
      namespaces.useTaskIterator(() => readTaskNumbersOrExplain(reader));
    }
    return await use({ target: resolveTarget(options.pid, options.tid, namespaces), namespaces, backend });
  } finally {
    taskNumbers?.close();
  }
}

/**
 * The sink as the sampler drives it, with each sample stamped with its
 * window's clock readings (model/sample.ts: SampleWindow): CLOCK_MONOTONIC
 * read right after the wall clock the sampler passes as dumpMicros.
 */
function stampingWindows(sink: SampleSink, lastWindow: () => { startNs: bigint; stopNs: bigint }): SampleSink {
  return {
    ...sink,
    sample: (index, sample, dumpMicros, ...rest) => sink.sample(index, { ...sample, window: { ...lastWindow(), dumpMonotonicNs: monotonicNs() } }, dumpMicros, ...rest),
  };
}

/** Measures the target until the samples are done, Ctrl-C, or the target exits. */
export async function measure(options: KdelayOptions, { target, namespaces, backend }: TargetContext): Promise<number> {
  const pid = target.pid;
  // Known by its start time from here on: an exit (reaped or not) or a reused PID ends the run.
  const targetProcess = new TargetProcess(pid, namespaces.userProc);
  const print = (line: string) => process.stdout.write(`${line}\n`);
  requireBpfCapabilities();
  if (target.note) process.stderr.write(`kdelay: ${target.note}\n`);
  const triggers: Triggers = {
    start: options.startTrigger && resolveTrigger(options.startTrigger, pid),
    stop: options.stopTrigger && resolveTrigger(options.stopTrigger, pid),
  };
  checkFileDescriptorLimit();
  checkMemoryLimits();
  if (options.syscallEvents !== undefined) checkEventBufferSizes(options);
  const threads = threadSelector(options, target, namespaces);
  const selectionNote = threads.note();
  if (selectionNote) process.stderr.write(`kdelay: ${selectionNote}\n`);
  timingMark('target resolved');
  backend ??= await loadBackend(options.debug !== 0);
  timingMark('libbpf loaded');
  reuseMemoryWhileLoading();

  // --write's file exists before anything attaches: a path that cannot be created stops the run here.
  const recorder = createRecording(options);
  const interrupts = new Interrupts();
  let probes: ProbeSet;
  try {
    probes = await startProbes(backend, target, triggers, options, threadIds(pid, namespaces.userProc).length);
  } catch (err) {
    recorder?.abandon();
    interrupts.dispose();
    throw err;
  }
  holdMemorySteady();
  timingMark('probes started');
  // Nothing else shows that kdelay is ready while it waits for a start trigger (scripts wait for this).
  if (triggers.start) process.stderr.write(`kdelay: attached to PID ${pid}; waiting for ${triggers.start.trigger.text}\n`);
  try {
    let lastWindow = { startNs: 0n, stopNs: 0n };
    const verdict: VerdictOptions | undefined = probes.provides('accounting')
      ? { syscallName: (nr) => probes.syscallLabel(nr), only: options.verdictOnly, histograms: options.histograms }
      : undefined;
    const format = OUTPUT_FORMATS[options.format];
    // A thread names itself (prctl): its name is the target's text, printed escaped.
    const nameNow = (tid: number) => printable(threadName(pid, tid));
    const command = threadName(pid, pid);
    // With --write, the recorder sits beside the output, and both see one name per thread and sample.
    const recording = recorder && recordingTee(recorder, nameNow);
    if (recorder && recording) {
      const syscalls = verdict ? SyscallTable.for(hostArch()!) : undefined;
      recorder.start(recordingHeader(options, { pid, command, sections: probes.sections, syscalls, kdelayVersion: kdelayVersion() }), recording.names);
    }
    const sink = format.create({
      sections: probes.sections,
      threadName: recording?.names ?? nameNow,
      print,
      write: (bytes) => {
        process.stdout.write(bytes);
        // Nothing queued: the bytes are in the kernel and the buffer can be reused.
        return process.stdout.writableLength === 0;
      },
      target: { pid, command },
      verdict,
      terminalHint: terminalHint(),
    });
    const stamped = stampingWindows(recording ? recording.tee(sink) : sink, () => lastWindow);
    const quiet = !format.progressLines;
    // On a terminal, a progress line (stderr) while a window or a wait for a trigger lasts: nothing in a pipe.
    const progress = progressLine();
    const io: SamplerIO = {
      nowMicros: nowEpochMicros,
      wait: (ms) => interrupts.wait(ms, targetProcess),
      print,
      interrupted: () => interrupts.interrupted(),
      progress: (state) => progress.show(state),
    };
    /** The account's rows for threads the probe never saw (asleep all along), for a window of windowNs. */
    const withQuietThreads = (sample: CollectedSample, windowNs: number) => {
      if (probes.provides('accounting')) {
        const candidates = threadIds(pid, namespaces.userProc).map((tid) => ({
          tid: namespaces.kernelId(tid) ?? tid,
          whereabouts: () => threadWhereabouts(pid, tid, namespaces.userProc),
        }));
        accountQuietThreads(sample.tables, candidates, windowNs);
      }
      return sample;
    };
    const source = {
      open: () => probes.gate.open(),
      close: () => {
        const gate = probes.gate.close();
        threads.look();
        if (gate.state === GateState.IDLE) {
          // No window opened (Ctrl-C before the start trigger): the gate still
          // holds the last window's times. This one is empty, now.
          const now = monotonicNs();
          lastWindow = { startNs: now, stopNs: now };
          return 0;
        }
        lastWindow = { startNs: gate.windowStartNs, stopNs: gate.windowStopNs };
        return Number(gate.windowStopNs - gate.windowStartNs);
      },
      // Quiet threads before the selection, which renumbers and filters these rows like the probes' own.
      collect: () => threads.select(withQuietThreads(probes.collect(), Number(lastWindow.stopNs - lastWindow.startNs))),
      reset: () => {
        probes.reset();
        probes.gate.idle();
        threads.look();
      },
    };
    if (probes.catchEvents) {
      await watchForCatches({
        thresholds: { longPollMs: options.catchLongPollMs, syscallMs: options.catchSyscallMs },
        sampleCount: options.sampleCount,
        sections: probes.sections,
        events: probes.catchEvents,
        open: () => {
          probes.gate.open();
          return probes.gate.read().windowStartNs;
        },
        snapshot: () => {
          const { atNs, sample } = probes.catchSnapshot();
          // Cumulative since the gate opened: a quiet thread's row is that whole time.
          const selected = threads.select(withQuietThreads(sample, Number(atNs - probes.gate.read().windowStartNs)));
          threads.look();
          return { atNs, sample: selected };
        },
        reportedTid: (tid) => threads.reportedTid(tid),
        syscallName: (nr) => probes.syscallLabel(nr),
        monotonicNs,
        io,
        sink: recording ? recording.tee(sink) : sink,
      });
    } else if (probes.triggerEvents) {
      const events = probes.triggerEvents;
      await runTriggerMode(
        { ...options, startTrigger: Boolean(triggers.start), stopTrigger: Boolean(triggers.stop), triggerDeltaNs: options.triggerDelta },
        {
          ...source,
          nextHit: () => interrupts.nextHit(events, targetProcess),
          monotonicNs,
          missedStarts: () => Number(probes.gate.read().missedStarts),
        },
        io,
        stamped,
        quiet,
      );
    } else {
      await runTimeMode(options, source, io, stamped, quiet);
    }
    recorder?.close();
  } catch (err) {
    recorder?.abandon();
    throw err;
  } finally {
    await probes.close();
    interrupts.dispose();
  }
  return ExitCode.OK;
}
