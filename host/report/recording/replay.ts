/**
 * `kdelay report FILE`: a recording rendered again by the live run's own
 * renderers, fed what the live run fed them (the names it printed, the
 * window's clock readings, its time zone), so text and --json come out
 * byte for byte as the live run printed them. Rendering-only options
 * (--verdict-only, --verdict, --hist, -t, --thread-name) apply after the
 * fact where the recording holds what they need; where it does not, a
 * UserError says why in one line.
 */
import { ExitCode, UserError } from '../../base/exit-codes.js';
import { timestampLine } from '../timestamps.js';
import { jsonRenderer } from '../json-renderer.js';
import { textRenderer } from '../text-renderer.js';
import type { TextLayout } from '../text-style.js';
import type { ByteWriter, VerdictOptions } from '../render-common.js';
import type { ReportSample, SampleSink } from '../../model/sample.js';
import { decodeSample, type RecordingHeader, type SampleRecord } from './file-format.js';
import type { OpenRecording } from './reader.js';

/** What `kdelay report` may change about how a recording is rendered. */
export interface ReplayOptions {
  json: boolean;
  /** The text report's layout (text-style.ts); undefined: the live run's (`text` unless it had --format reference). */
  layout?: TextLayout;
  /** undefined: as recorded. */
  verdict?: boolean;
  verdictOnly?: boolean;
  histograms?: boolean;
  tid?: number;
  threadName?: RegExp;
}

const refuse = (why: string) => new UserError(why, ExitCode.USAGE);

/** The verdict options a replay renders with, or a one-line refusal when the recording cannot give them. */
export function replayVerdict(header: RecordingHeader, options: ReplayOptions): VerdictOptions | undefined {
  const recorded = header.options;
  const names = header.syscall_names;
  const wanted = options.verdict || options.verdictOnly || options.histograms;
  if (!recorded.verdict || !names) {
    if (wanted) {
      const flag = options.verdictOnly ? '--verdict-only' : options.histograms ? '--hist' : '--verdict';
      throw refuse(`${flag}: this recording has no verdict data (it was made without --verdict, --verdict-only or --hist)`);
    }
    return undefined;
  }
  if (options.histograms && !recorded.histograms) throw refuse('--hist: this recording has no histograms (it was made without --hist)');
  const only = options.verdictOnly ?? (options.verdict || options.histograms ? false : recorded.verdict_only);
  const histograms = options.histograms ?? recorded.histograms;
  if (options.verdict === false && options.verdictOnly === undefined) return undefined;
  return { syscallName: (nr) => names[String(nr)] ?? `[unknown: ${nr}]`, only, histograms };
}

/** Thread selection after the fact: which of the recorded threads pass -t and --thread-name. */
export function checkSelection(header: RecordingHeader, options: ReplayOptions): void {
  const recorded = header.options;
  if (options.tid !== undefined && recorded.tid !== null && options.tid !== recorded.tid) {
    throw refuse(`-t ${options.tid}: this recording holds only thread ${recorded.tid} (it was made with -t ${recorded.tid})`);
  }
}

/** A recorded sample's rows, events and exited threads, keeping only the threads `keep` accepts (system rows always). */
function selectRecorded(sample: ReportSample, systemSections: Set<string>, keep: (tid: number) => boolean): void {
  for (const [id, table] of sample.tables) if (!systemSections.has(id)) table.mapTids((tid) => (keep(tid) ? tid : undefined));
  if (sample.exited) sample.exited = new Map([...sample.exited].filter(([tid]) => keep(tid)));
  if (sample.events) sample.events = sample.events.filter((e) => keep(e.tid));
}

/** One recorded sample as the renderers take it, with the names the live run printed. */
export function replaySample(record: SampleRecord, header: RecordingHeader, options: ReplayOptions): { sample: ReportSample; nameOf: (tid: number) => string } {
  const sample = decodeSample(record);
  const names = new Map(record.names);
  const nameOf = (tid: number) => names.get(tid) ?? `<unknown:${header.target.pid}/${tid}>`;
  if (options.tid !== undefined || options.threadName) {
    const system = new Set(header.sections.filter((s) => s.scope === 'system').map((s) => s.id));
    const pattern = options.threadName;
    selectRecorded(sample, system, (tid) => (options.tid === undefined || tid === options.tid) && (!pattern || pattern.test(sample.exited?.get(tid) ?? nameOf(tid))));
  }
  return { sample, nameOf };
}

/**
 * Renders a recording to print/write (stdout in the CLI). Sets the process's
 * time zone to the recorded one: the text report's timestamps are local times.
 */
export async function replay(recording: OpenRecording, options: ReplayOptions, print: (line: string) => void, write: ByteWriter): Promise<number> {
  const { header } = recording;
  checkSelection(header, options);
  const verdict = replayVerdict(header, options);
  if (header.host.time_zone) process.env.TZ = header.host.time_zone;
  // The renderers ask for a name per thread; each sample brings its own.
  let current: (tid: number) => string = (tid) => `<unknown:${header.target.pid}/${tid}>`;
  const nameNow = (tid: number) => current(tid);
  const renderer: SampleSink = options.json
    ? jsonRenderer(header.sections, nameNow, print, { pid: header.target.pid, command: header.target.command }, verdict)
    : textRenderer(header.sections, nameNow, print, write, verdict, { layout: options.layout ?? header.options.text_layout ?? 'text', target: header.target });
  let seenTid = options.tid === undefined;
  for await (const record of recording.records()) {
    switch (record.type) {
      case 'progress':
        if (!options.json) print(timestampLine(record.message, record.micros));
        break;
      case 'window_open':
        renderer.windowOpened?.(record.index, record.micros);
        break;
      case 'watching':
        renderer.watching?.({ longPollMs: record.long_poll_ms ?? undefined, syscallMs: record.syscall_ms ?? undefined }, record.micros);
        break;
      case 'sample': {
        const { sample, nameOf } = replaySample(record, header, options);
        current = nameOf;
        if (!seenTid && record.names.some(([tid]) => tid === options.tid)) seenTid = true;
        renderer.sample(
          record.index,
          sample,
          record.dump_micros,
          record.window_ns,
          record.trigger_delta_ns === null ? undefined : BigInt(record.trigger_delta_ns),
          record.ended ?? undefined,
        );
        break;
      }
      case 'skipped':
        renderer.skipped(BigInt(record.trigger_delta_ns), record.micros);
        break;
      case 'warnings':
        renderer.warnings(record.warnings);
        break;
    }
  }
  if (!seenTid) process.stderr.write(`kdelay: -t ${options.tid}: no thread ${options.tid} in this recording\n`);
  return ExitCode.OK;
}
