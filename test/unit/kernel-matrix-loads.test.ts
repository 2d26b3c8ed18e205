/**
 * The kernel matrix (npm run test:kernel-matrix) must load every configuration
 * that changes what a probe loads, so that no option ships that a supported
 * kernel's verifier refuses (issue 20: --hist was never loaded, and 5.10 and
 * 6.1 refuse it). What changes what a probe loads is derived here, not
 * listed by hand:
 *
 * - each built-in manifest's options (bool: both values; numbers: the
 *   smallest and another; trigger kinds: each, in each role), with the host
 *   values (`"from"`) the CLI's flags give them;
 * - what each probe's user half configures between open and load (its
 *   `.rodata` globals, map sizes and program autoloads), each of which must
 *   be traced to one of those options or to a fact of the host;
 * - the CLI's flags, each of which reaches the probes or is said not to.
 *
 * A new option, global, map resize, program section, trigger kind or flag
 * fails this test until the matrix loads it (scripts/lib/kernel-matrix-loads.mjs)
 * or it is explained below.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type OptionSpec, parseManifest, type ProbeManifest } from '../../host/bundle/manifest.js';
import { buildProgram, helpText, type KdelayOptions, parseOptions } from '../../host/cli/options.js';
import { parseTrigger } from '../../host/system/triggers.js';
// Plain JavaScript, shared with the matrix and its guest.
import { CHECK_CONFIGURATIONS, LOAD_CONFIGURATIONS, loadArgs, TRIGGER_SPECS } from '../../scripts/lib/kernel-matrix-loads.mjs';

const ROOT = join(import.meta.dirname, '..', '..');
const PROBES_DIR = join(ROOT, 'probes');
const PAGE_SIZE = 4096;

interface Configuration {
  name: string;
  args: string[];
  start?: string;
  stop?: string;
  needs?: string;
}
const CONFIGURATIONS: Configuration[] = [...CHECK_CONFIGURATIONS, ...LOAD_CONFIGURATIONS];

const probeNames = readdirSync(PROBES_DIR, { withFileTypes: true })
  .filter((d) => d.isDirectory() && readdirSync(join(PROBES_DIR, d.name)).includes('manifest.json'))
  .map((d) => d.name)
  .sort();
const manifests = new Map<string, ProbeManifest>(
  probeNames.map((name) => [name, parseManifest(readFileSync(join(PROBES_DIR, name, 'manifest.json'), 'utf8'), `probes/${name}/manifest.json`)]),
);
const providerOf = (role: string) => probeNames.find((p) => manifests.get(p)!.provides?.includes(role));

/**
 * The host values a manifest option may take (`"from"`), as the CLI's flags
 * give them (driver/probe-plan.ts: planProbes, driver/measure.ts: startProbes; driver/syscall-events.ts:
 * hostValues), and the smallest value a flag can give a number.
 */
const catching = (o: KdelayOptions) => o.catchLongPollMs !== undefined || o.catchSyscallMs !== undefined;

const HOST_VALUES: Record<string, { of: (o: KdelayOptions) => bigint | undefined; smallest?: bigint }> = {
  'histograms.enabled': { of: (o) => (o.histograms ? 1n : 0n) },
  'syscall_events.enabled': { of: (o) => (o.syscallEvents === undefined ? undefined : 1n) },
  'syscall_events.min_ns': { of: (o) => (o.syscallEvents === undefined ? undefined : BigInt(o.syscallEvents)), smallest: 0n },
  'syscall_events.skip_poll': { of: (o) => (o.syscallEvents === undefined ? undefined : o.skipSyscallPollEvents ? 1n : 0n) },
  'syscall_events.stack_trace_size': { of: (o) => (o.syscallEvents === undefined ? undefined : BigInt(o.stackTraceSize)), smallest: 0n },
  'syscall_events.ring_bytes': { of: (o) => (o.syscallEvents === undefined ? undefined : BigInt(o.bufferPageCount * PAGE_SIZE)), smallest: BigInt(PAGE_SIZE) },
  // Catch mode arms both thresholds, the one not asked for at 0 (driver/catch-events.ts: hostValues).
  'catch.long_poll_ns': { of: (o) => (catching(o) ? BigInt(Math.round((o.catchLongPollMs ?? 0) * 1e6)) : undefined), smallest: 0n },
  'catch.syscall_ns': { of: (o) => (catching(o) ? BigInt(Math.round((o.catchSyscallMs ?? 0) * 1e6)) : undefined), smallest: 0n },
  // Which probes load (driver/probe-set.ts): the account probe's work at the sched and syscalls probes' hooks is done by their programs when both load.
  'probe.account': { of: (o) => (loadedProbes(o).includes('account') ? 1n : undefined) },
  'probe.sched': { of: (o) => (loadedProbes(o).includes('sched') ? 1n : undefined) },
  'probe.syscalls': { of: (o) => (loadedProbes(o).includes('syscalls') ? 1n : undefined) },
};

/**
 * Host values that are facts of the target, not of a flag, with why the
 * matrix covers what they change without varying them.
 */
const TARGET_FACTS: Record<string, string> = {
  'catch.ring_bytes': 'a constant (KDELAY_CATCH_RING_BYTES), the same in every catching run, which the catch configurations load',
  'target.threads':
    "sizes only per-thread hash maps (account, irq, sched, syscalls), whose size the verifier does not check against: the probes' max_entries options size the same maps and configurations load them at their smallest and at the default",
};

/**
 * What each probe's user half configures before load (its .rodata globals,
 * map sizes), by what decides it: a manifest option of that probe, or a fact
 * of the host that the matrix varies by booting its guests (the target, the
 * architecture, the CPU count), with why.
 */
const SETTINGS: Record<string, { option: string } | { fact: string }> = {
  'account:account_hist_enabled': { option: 'account.hist' },
  'account:account_switch': { option: 'account.sched_probe' },
  'account:account_runtime': { option: 'account.sched_probe' },
  'account:account_wakeup': { option: 'account.sched_probe' },
  'account:account_wakeup_new': { option: 'account.sched_probe' },
  'account:account_sys_enter': { option: 'account.syscalls_probe' },
  'account:account_sys_exit': { option: 'account.syscalls_probe' },
  'account:account_thread': { option: 'account.max_entries' },
  'account:account_time': { option: 'account.max_entries' },
  'account:account_tail': { option: 'account.max_entries' },
  'account:delayers': { option: 'account.max_entries' },
  'account:account_hist': { option: 'account.hist' },
  'account:waiters': { fact: 'the possible CPUs (1 in the guests)' },
  'irq:hardirq_stats': { option: 'irq.max_entries' },
  'irq:softirq_stats': { option: 'irq.max_entries' },
  'sched:sched_wakeup': { option: 'sched.account' },
  'sched:sched_wakeup_new': { option: 'sched.account' },
  'sched:sched_switch': { option: 'sched.account' },
  'sched:sched_stat_runtime': { option: 'sched.account' },
  'sched:sched_wakeup_account': { option: 'sched.account' },
  'sched:sched_wakeup_new_account': { option: 'sched.account' },
  'sched:sched_switch_account': { option: 'sched.account' },
  'sched:sched_stat_runtime_account': { option: 'sched.account' },
  'sched:account_hist_enabled': { option: 'sched.account_hist' },
  'sched:thread_state': { option: 'sched.max_entries' },
  'sched:run_stats': { option: 'sched.max_entries' },
  'sched:partial_run_stats': { option: 'sched.max_entries' },
  'sched:ready_stats': { option: 'sched.max_entries' },
  'sched:stopped_stats': { option: 'sched.max_entries' },
  'sched:tail_clip': { option: 'sched.max_entries' },
  'sched:state_slots': { option: 'sched.slots' },
  'sched:slot_owner': { option: 'sched.slots' },
  'sched:slot_mask': { option: 'sched.slots' },
  'syscalls:poll_syscall_nr': { fact: "poll()'s number on the architecture (both are booted)" },
  'syscalls:syscall_stats': { option: 'syscalls.max_entries' },
  'syscalls:syscall_start': { fact: "the target's threads at start (target.threads): a per-thread hash map, at least 4096 rows" },
  'syscalls:long_poll_stats': { fact: "the target's threads at start (target.threads): a per-thread hash map, at least 4096 rows" },
  'syscalls:stamp_slots': { option: 'syscalls.slots' },
  'syscalls:slot_owner': { option: 'syscalls.slots' },
  'syscalls:slot_mask': { option: 'syscalls.slots' },
  'syscalls:events_enabled': { option: 'syscalls.events' },
  'syscalls:events_min_ns': { option: 'syscalls.events_min_ns' },
  'syscalls:events_skip_poll': { option: 'syscalls.events_skip_poll' },
  'syscalls:events_stacks': { option: 'syscalls.stack_trace_size' },
  'syscalls:kdelay_stack_traces': { option: 'syscalls.stack_trace_size' },
  // Where a slow call blocked: loaded (the program, the map at full size) only with -s and stacks.
  'syscalls:syscall_blocked': { option: 'syscalls.stack_trace_size' },
  'syscalls:syscalls_switch': { option: 'syscalls.stack_trace_size' },
  'syscalls:events_wakeup_bytes': { option: 'syscalls.events_ring_bytes' },
  'syscalls:kdelay_syscall_events': { option: 'syscalls.events_ring_bytes' },
  'syscalls:syscalls_enter': { option: 'syscalls.account' },
  'syscalls:syscalls_exit': { option: 'syscalls.account' },
  'syscalls:syscalls_enter_account': { option: 'syscalls.account' },
  'syscalls:syscalls_exit_account': { option: 'syscalls.account' },
  'syscalls:account_hist_enabled': { option: 'syscalls.account_hist' },
  'syscalls:catch_long_poll_ns': { option: 'syscalls.catch_long_poll_ns' },
  'syscalls:catch_syscall_ns': { option: 'syscalls.catch_syscall_ns' },
  'syscalls:kdelay_catch_events': { option: 'syscalls.catch_ring_bytes' },
  '*:kdelay_target_tgid': { fact: "the target's tgid (every run has one)" },
};

/**
 * Program sections by the trigger kind (CLI) that loads them. fentry/fexit
 * stand in for kprobes on kernels without them (system/trigger-targets.ts),
 * which no Debian kernel of the matrix is: the one gap, said in
 * ARCHITECTURE.md. The upcall probe's sections follow its attach option.
 */
const TRIGGER_SECTION_KIND: Record<string, string | { withoutKprobes: string }> = {
  usdt: 'usdt',
  uprobe: 'uprobe',
  uretprobe: 'uretprobe',
  raw_tp: 'tracepoint',
  tracepoint: 'tracepoint',
  kprobe: 'kprobe',
  kretprobe: 'kretprobe',
  fentry: { withoutKprobes: 'kprobe' },
  fexit: { withoutKprobes: 'kretprobe' },
};
const RETURN_PROBE_ATTACH: Record<string, 'kprobes' | 'without kprobes'> = { kretprobe: 'kprobes', fexit: 'without kprobes' };

/** The CLI's flags (long names) that change nothing a probe loads, and why. Every other flag must be loaded. */
const FLAGS_NOT_REACHING_PROBES: Record<string, string> = {
  '--pid': 'the target: every run has one (kdelay_target_tgid)',
  '--tid': 'selects rows on the host; the probes filter on the process',
  '--thread-name': 'selects rows on the host',
  '--sample-time': 'the window, on the host',
  '--interval': 'the window (as --sample-time), on the host',
  '--legend': 'prints a text and loads nothing',
  '--write': 'records the samples the probes already produce into a file: it changes no probe, option or host value',
  '--sample-count': 'how many windows, on the host',
  '--sample-interval': 'the pause between windows, on the host',
  '--trigger-delta': "compared on the host with the trigger events' times",
  '--probe': 'loads bundles of its own, not the built-ins',
  '--trust-key': 'which signatures are trusted',
  '--allow-unsigned': 'which bundles are admitted',
  '--allow-program-kind': "the host's program policy",
  '--list-probes': "lists the target's USDT probes and loads nothing",
  '--debug': "libbpf's log level (the window check uses it)",
  '--verdict-only': 'loads what --verdict loads, and prints less',
  '--json': 'the output format',
  '--format': 'the output format (text, reference, json)',
  '--version': 'prints a version',
};

/** A configuration as the CLI parses it. */
function parsed(c: Configuration): KdelayOptions {
  const o = parseOptions(loadArgs(c, 1));
  if (typeof o === 'string') throw new Error(`${c.name}: not a run (${o})`);
  return o;
}

/** The built-in probes a configuration loads (driver/probe-plan.ts: planProbes, catalog's --only/--skip). */
function loadedProbes(o: KdelayOptions): string[] {
  return probeNames.filter((p) => {
    if (o.onlyProbes.length && !o.onlyProbes.includes(p)) return false;
    if (o.skipProbes.includes(p)) return false;
    if (p === providerOf('accounting') && !o.verdict && !o.onlyProbes.includes(p)) return false;
    if (p === providerOf('trigger') && !o.startTrigger && !o.stopTrigger) return false;
    return true;
  });
}

/** What a loaded probe's option is in a configuration: its value, or "default" (the probe's own fallback). */
function optionValue(spec: OptionSpec, o: KdelayOptions): string {
  if (spec.host && spec.from !== undefined) {
    const host = HOST_VALUES[spec.from];
    const v = host?.of(o);
    return v === undefined ? 'default' : String(v);
  }
  const given = o.probeOptions[spec.name];
  return given === undefined ? 'default' : String(given);
}

/** The trigger kinds the CLI documents (its help's TRIGGERS), by parsing each spelling. */
function cliTriggerKinds(): string[] {
  const help = helpText().split('Triggers (TYPE:ARGS):')[1]?.split('\n\n')[0] ?? '';
  const spellings = [...help.matchAll(/(?:^|\s)([a-z|]+):[A-Z]/g)].flatMap((m) => m[1].split('|'));
  expect(spellings.length, "the help's TRIGGERS list").toBeGreaterThan(0);
  return [...new Set(spellings.map((s) => parseTrigger(`${s}:a:b`.replace(/^(k|kr|kprobe|kretprobe):a:b$/, '$1:a')).kind))].sort();
}

/** `SEC("...")` program sections of a probe's BPF C (not license or maps), by the part before the first '/'. */
function programSections(probe: string): string[] {
  const source = readFileSync(join(PROBES_DIR, probe, `${probe}.bpf.c`), 'utf8');
  const sections = [...source.matchAll(/SEC\("([^"]+)"\)/g), ...source.matchAll(/TRIGGER_PAIR\("([^"]+)"/g)].map((m) => m[1]);
  return [...new Set(sections.filter((s) => s !== 'license' && s !== '.maps').map((s) => s.split('/')[0]))].sort();
}

/** What a probe's user half sets before load: globals of its C (and the headers it includes), the maps it resizes and the programs it turns off or on. */
function settingPoints(probe: string): string[] {
  const c = readFileSync(join(PROBES_DIR, probe, `${probe}.bpf.c`), 'utf8');
  const headers = [...c.matchAll(/#include "([^"]+)"/g)].map((m) => readFileSync(join(PROBES_DIR, 'include', m[1]), 'utf8'));
  const globals = [c, ...headers].flatMap((text) => [...text.matchAll(/^const volatile [\w ]+?(\w+)\s*=/gm)].map((m) => m[1]));
  const ts = readFileSync(join(PROBES_DIR, probe, `${probe}.ts`), 'utf8');
  // Either quote: the probes' AssemblyScript is laid out by prettier, which writes '.
  const maps = [...ts.matchAll(/\.setMaxEntries\(\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
  const autoloads = [...ts.matchAll(/\.setAutoload\(\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
  return [...new Set([...globals, ...maps, ...autoloads])].sort();
}

const setting = (probe: string, name: string) => SETTINGS[`${probe}:${name}`] ?? SETTINGS[`*:${name}`];

describe('the kernel matrix loads every configuration that changes what a probe loads', () => {
  it('every configuration is a valid kdelay command line', () => {
    for (const c of CONFIGURATIONS) expect(() => parsed(c), c.name).not.toThrow();
    expect(new Set(LOAD_CONFIGURATIONS.map((c: Configuration) => c.name)).size).toBe(LOAD_CONFIGURATIONS.length);
  });

  it('every .rodata global and map size a probe sets before load comes from a manifest option or a host fact', () => {
    const unexplained: string[] = [];
    const undeclared: string[] = [];
    for (const probe of probeNames) {
      for (const name of settingPoints(probe)) {
        const s = setting(probe, name);
        if (!s) unexplained.push(`${probe}: ${name}`);
        else if ('option' in s && !manifests.get(probe)!.options?.some((o) => o.name === s.option)) undeclared.push(`${probe}: ${name} <- ${s.option}`);
      }
    }
    expect(unexplained, 'set before load but unknown to the matrix: add it to SETTINGS here and make a configuration load its values').toEqual([]);
    expect(undeclared, 'traced to an option its manifest does not declare').toEqual([]);
  });

  it('every bool option is loaded both ways, every number at its smallest and at another value', () => {
    const missing: string[] = [];
    for (const probe of probeNames) {
      for (const spec of manifests.get(probe)!.options ?? []) {
        if (spec.type === 'string') continue;
        if (spec.host && spec.from !== undefined && TARGET_FACTS[spec.from]) continue;
        if (spec.host && spec.from !== undefined && !HOST_VALUES[spec.from]) {
          missing.push(`${probe}: ${spec.name} takes host value ${spec.from}, which this test does not know the flags of`);
          continue;
        }
        const seen = new Set(
          CONFIGURATIONS.map(parsed)
            .filter((o) => loadedProbes(o).includes(probe))
            .map((o) => optionValue(spec, o)),
        );
        if (spec.type === 'bool') {
          // A bool the user half reads with option(name, 0): not given is 0.
          const values = new Set([...seen].map((v) => (v === 'default' ? '0' : v)));
          for (const v of ['0', '1']) if (!values.has(v)) missing.push(`${probe}: ${spec.name}=${v}`);
        } else {
          const smallest = spec.min !== undefined ? BigInt(spec.min) : spec.from !== undefined ? HOST_VALUES[spec.from].smallest : undefined;
          if (smallest === undefined) missing.push(`${probe}: ${spec.name} has no smallest value (declare min in its manifest)`);
          else if (!seen.has(String(smallest))) missing.push(`${probe}: ${spec.name}=${smallest} (its smallest)`);
          if ([...seen].filter((v) => v !== String(smallest)).length === 0) missing.push(`${probe}: ${spec.name} at a value other than ${smallest}`);
        }
      }
    }
    expect(missing, 'values no configuration of scripts/lib/kernel-matrix-loads.mjs loads').toEqual([]);
  });

  it('every trigger kind the CLI documents is loaded as start and as stop, and TRIGGER_SPECS spells each', () => {
    const kinds = cliTriggerKinds();
    expect(Object.keys(TRIGGER_SPECS).sort(), 'TRIGGER_SPECS: one spelling per trigger kind of the CLI').toEqual(kinds);
    for (const [kind, roles] of Object.entries(TRIGGER_SPECS as Record<string, { start: string; stop: string }>)) {
      expect(parseTrigger(roles.start, 'start').kind, roles.start).toBe(kind);
      expect(parseTrigger(roles.stop, 'stop').kind, roles.stop).toBe(kind);
    }
    const loaded = (role: 'start' | 'stop') => new Set(CONFIGURATIONS.map(parsed).map((o) => (role === 'start' ? o.startTrigger : o.stopTrigger)?.kind));
    for (const role of ['start', 'stop'] as const) {
      expect(
        kinds.filter((k) => !loaded(role).has(k as never)),
        `trigger kinds never loaded as ${role}`,
      ).toEqual([]);
    }
  });

  it("every program section of every probe is loaded by some configuration (fentry/fexit: only without kprobes, the matrix's gap)", () => {
    const kinds = cliTriggerKinds();
    const unloaded: string[] = [];
    for (const probe of probeNames) {
      const manifest = manifests.get(probe)!;
      const returnProbe = manifest.options?.find((o) => o.type === 'string' && /^return_probe\./.test(o.from ?? ''));
      for (const section of programSections(probe)) {
        if (manifest.provides?.includes('trigger')) {
          const kind = TRIGGER_SECTION_KIND[section];
          if (kind === undefined) unloaded.push(`${probe}: section ${section} (no trigger kind loads it)`);
          else if (typeof kind === 'string' && !kinds.includes(kind)) unloaded.push(`${probe}: section ${section} (trigger kind ${kind} is not the CLI's)`);
          else if (typeof kind !== 'string' && !kinds.includes(kind.withoutKprobes)) unloaded.push(`${probe}: section ${section}`);
        } else if (returnProbe) {
          if (!RETURN_PROBE_ATTACH[section]) unloaded.push(`${probe}: section ${section} (not an attach kind of ${returnProbe.from})`);
        }
        // Every other probe loads all its programs whenever it loads.
      }
      if (!CONFIGURATIONS.map(parsed).some((o) => loadedProbes(o).includes(probe))) unloaded.push(`${probe}: never loaded`);
    }
    expect(unloaded).toEqual([]);
    // Text options are the trigger kinds and return-probe attach kinds above, and nothing else.
    const textOptions = probeNames.flatMap((p) => (manifests.get(p)!.options ?? []).filter((o) => o.type === 'string').map((o) => `${p}: ${o.name}`));
    const known = (entry: string) =>
      /^\w+: trigger\.(start|stop)\.kind$/.test(entry) ||
      manifests.get(entry.split(':')[0])!.options!.some((o) => `${entry.split(':')[0]}: ${o.name}` === entry && /^return_probe\./.test(o.from ?? ''));
    expect(
      textOptions.filter((e) => !known(e)),
      'text options this test does not know how to load',
    ).toEqual([]);
  });

  it('--only and --skip (and --skip-upcall-stats) each select the probes of some configuration', () => {
    const all = CONFIGURATIONS.map(parsed);
    expect(
      all.some((o) => o.onlyProbes.length > 0),
      '--only',
    ).toBe(true);
    expect(
      all.some((o) => o.skipProbes.some((p) => p !== 'upcall')),
      '--skip',
    ).toBe(true);
    expect(
      all.some((o) => o.skipProbes.includes('upcall')),
      '--skip-upcall-stats',
    ).toBe(true);
    for (const probe of probeNames) expect(all.filter((o) => loadedProbes(o).includes(probe)).length, `${probe} loaded by configurations`).toBeGreaterThanOrEqual(2);
  });

  it('every CLI flag either is loaded by some configuration or is said here not to reach the probes', () => {
    const flags = buildProgram().options.map((o) => o.long!);
    const unclassified = flags.filter(
      (f) =>
        !(f in FLAGS_NOT_REACHING_PROBES) &&
        !CONFIGURATIONS.some((c) =>
          loadArgs(c, 1).some((a: string) => a === f || (a.startsWith('-') && !a.startsWith('--') && buildProgram().options.find((o) => o.short === a)?.long === f)),
        ),
    );
    expect(unclassified, 'flags that reach the probes but no configuration gives (or say why they do not reach them)').toEqual([]);
    expect(
      Object.keys(FLAGS_NOT_REACHING_PROBES).filter((f) => !flags.includes(f)),
      'flags the CLI no longer has',
    ).toEqual([]);
  });
});
