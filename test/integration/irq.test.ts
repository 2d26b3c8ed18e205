/**
 * The irq probe end to end on the real kernel, through the real CLI.
 *
 * test/workloads/irq_workload.c pins one busy "spin-N" thread to every CPU
 * and runs a "disk-io" thread doing O_DIRECT writes + fsync() to a file on
 * disk. So every CPU is running a target thread when the disk's completion
 * interrupt or a softirq arrives there, while disk-io itself sleeps waiting
 * for the disk.
 *
 * Which interrupts exist is the machine's business, so the numbers are
 * checked against the kernel's own counters rather than hard-coded: the
 * workload's interrupts must show up, and no row may count more handler runs
 * than /proc/interrupts and /proc/softirqs saw over the whole run.
 *
 * On the 2-CPU Firecracker VM this was written on, the timer tick is a local
 * APIC interrupt (LOC in /proc/interrupts) that does not pass through
 * irq_handler_entry, and neither do rescheduling or function-call IPIs; the
 * virtio-blk completion interrupt (virtio1-req.0, routed to CPU 1) does, so
 * HARD IRQ STATISTICS are asserted on the disk's interrupt.
 */
import { existsSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf, waitUntilNoKdelayPrograms } from '../helpers/bpf.js';
import { startKdelay } from '../helpers/kdelay.js';
import { labelledRow, type ParsedSection, type ParsedThread, parseReport } from '../helpers/report.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';

/** How long each spin-N thread stays on its CPU, and disk-io keeps writing. */
const RUN_MS = 1500;
/** Where disk-io writes: /var/tmp is on disk (unlike /tmp on some systems, which may be tmpfs). */
const IO_DIR = '/var/tmp';
const SOFTIRQ_NAMES = ['hi', 'timer', 'net_tx', 'net_rx', 'block', 'irq_poll', 'tasklet', 'sched', 'hrtimer', 'rcu'];

// --- the kernel's own counters ---

interface IrqLine {
  id: string;
  total: number;
  /** The line after the counts: chip, hwirq, type and the handlers' names. */
  text: string;
}

/** /proc/interrupts: per interrupt, the count summed over CPUs. */
function readInterrupts(): Map<string, IrqLine> {
  const [header, ...lines] = readFileSync('/proc/interrupts', 'utf8').trimEnd().split('\n');
  const cpus = header.trim().split(/\s+/).length;
  const out = new Map<string, IrqLine>();
  for (const line of lines) {
    const m = /^\s*([^:\s]+):(.*)$/.exec(line);
    if (!m) continue;
    const tokens = m[2].trim().split(/\s+/);
    const counts = tokens
      .slice(0, cpus)
      .filter((t) => /^\d+$/.test(t))
      .map(Number);
    out.set(m[1], { id: m[1], total: counts.reduce((a, b) => a + b, 0), text: tokens.slice(counts.length).join(' ') });
  }
  return out;
}

/** True if the interrupt line lists a handler of this name (names are ", "-separated, last on the line). */
function hasHandler(line: IrqLine, name: string): boolean {
  const text = ` ${line.text}`;
  return text.endsWith(` ${name}`) || text.includes(` ${name},`);
}

/** /proc/softirqs: per vector (in the kernel's order), the count summed over CPUs, with its name. */
function readSoftirqs(): { name: string; total: number }[] {
  const [, ...lines] = readFileSync('/proc/softirqs', 'utf8').trimEnd().split('\n');
  return lines.map((line) => {
    const [name, ...counts] = line.trim().split(/\s+/);
    return { name: name.replace(/:$/, '').toLowerCase(), total: counts.map(Number).reduce((a, b) => a + b, 0) };
  });
}

/** The interrupt numbers of the disk holding `path` (its PCI device's MSI vectors, or its INTx line). */
function diskIrqs(path: string): string[] {
  const dev = statSync(path).dev;
  const major = (dev >>> 8) & 0xfff;
  const minor = (dev & 0xff) | ((dev >>> 12) & 0xfff00);
  const ofBlock = (sysPath: string): string[] => {
    const slaves = join(sysPath, 'slaves'); // device-mapper, md: the disks underneath
    if (existsSync(slaves) && readdirSync(slaves).length) return readdirSync(slaves).flatMap((s) => ofBlock(realpathSync(join(slaves, s))));
    for (let dir = sysPath; dir.startsWith('/sys/devices/'); dir = dirname(dir)) {
      if (existsSync(join(dir, 'msi_irqs'))) return readdirSync(join(dir, 'msi_irqs'));
      const subsystem = join(dir, 'subsystem');
      if (existsSync(subsystem) && realpathSync(subsystem).endsWith('/pci') && existsSync(join(dir, 'irq'))) {
        const irq = readFileSync(join(dir, 'irq'), 'utf8').trim();
        return irq !== '0' ? [irq] : [];
      }
    }
    return [];
  };
  return ofBlock(realpathSync(`/sys/dev/block/${major}:${minor}`));
}

// --- running it ---

let workload: RunningWorkload | undefined;
let ioFile: string | undefined;
afterEach(async () => {
  await workload?.stop();
  workload = undefined;
  // The workload removes it on SIGTERM; not if it had to be killed.
  if (ioFile) rmSync(ioFile, { force: true });
  ioFile = undefined;
});

let runs = 0;

/**
 * Starts kdelay on the workload; with `go`, lets the workload run for RUN_MS
 * inside the window, else leaves it blocked for as long. The kernel's
 * counters are read before kdelay starts and after it exits, so they cover
 * the whole window.
 */
async function measure(go: boolean) {
  ioFile = join(IO_DIR, `kdelay-irq-test-${process.pid}-${++runs}`);
  workload = await startWorkload('irq_workload', [RUN_MS, ioFile]);
  const irqsBefore = readInterrupts();
  const softBefore = readSoftirqs();
  const kdelay = startKdelay(['-p', workload.pid, '--sample-time', 30]);
  await kdelay.waitForOutput(/^# Start sampling/m);
  let spinners = 0;
  let writes = 0;
  if (go) {
    workload.child.kill('SIGUSR1');
    const done = /^done spin=(\d+) io=(\d+)$/.exec(await workload.waitFor(/^done /))!;
    [spinners, writes] = [Number(done[1]), Number(done[2])];
  } else {
    await new Promise((r) => setTimeout(r, RUN_MS));
  }
  kdelay.child.kill('SIGINT'); // ends the sample early; the report is still printed
  const result = await kdelay.done;
  const irqsAfter = readInterrupts();
  const softAfter = readSoftirqs();
  const irqDelta = [...irqsAfter.values()].map((line) => ({ ...line, total: line.total - (irqsBefore.get(line.id)?.total ?? 0) }));
  const softDelta = softAfter.map((v, i) => ({ name: v.name, total: v.total - (softBefore[i]?.total ?? 0) }));
  return { ...result, threads: parseReport(result.stdout), spinners, writes, irqDelta, softDelta };
}

/** A section's rows without the TOTAL line, as [label, ...numbers]. */
function dataRows(section: ParsedSection): [string, ...number[]][] {
  return section.rows.filter((r) => r[0] !== 'TOTAL:').map(([label, ...cells]) => [label, ...cells.map(Number)]);
}

/** Count/total/max columns are the last three; TOTAL: sums count and total; rows sorted by total. */
function expectConsistent(section: ParsedSection, context: string) {
  const rows = dataRows(section);
  expect(rows.length, context).toBeGreaterThan(0);
  for (const row of rows) {
    const [count, total, max] = row.slice(-3) as number[];
    expect(count, context).toBeGreaterThanOrEqual(1);
    expect(total, context).toBeGreaterThan(0);
    expect(max, context).toBeGreaterThan(0);
    expect(max, context).toBeLessThanOrEqual(total);
  }
  const totals = rows.map((r) => r[r.length - 2] as number);
  expect(totals, context).toEqual([...totals].sort((a, b) => b - a));
  expect(labelledRow(section, 'TOTAL:'), context).toEqual([
    rows.reduce((sum, r) => sum + (r[r.length - 3] as number), 0),
    rows.reduce((sum, r) => sum + (r[r.length - 2] as number), 0),
  ]);
}

/** Per label, the count summed over every thread's rows of a section. */
function countsByLabel(threads: ParsedThread[], title: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of threads) {
    const section = t.sections.get(title);
    if (!section) continue;
    for (const row of dataRows(section)) out.set(row[0], (out.get(row[0]) ?? 0) + (row[row.length - 3] as number));
  }
  return out;
}

describe.skipIf(skipWithoutBpf)('irq statistics on the real kernel', () => {
  it('counts the softirqs (timer among them) that ran while each busy thread was on its CPU', async () => {
    requireBpf();
    const { code, stderr, stdout, threads, spinners, softDelta } = await measure(true);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const spins = threads.filter((t) => t.name.startsWith('spin-'));
    expect(spins, stdout).toHaveLength(spinners);
    for (const spin of spins) {
      const context = `${spin.name}\n${stdout}`;
      const soft = spin.sections.get('SOFT IRQ STATISTICS');
      expect(soft, context).toBeDefined();
      expect(soft!.header, context).toEqual(['NAME', 'VECT_NR', 'COUNT', 'TOTAL ns', 'MAX ns']);
      expectConsistent(soft!, context);
      // Every name belongs to its vector; the kernel ticks a busy CPU, and its timer softirq runs on top of the thread.
      for (const [name, vec] of dataRows(soft!)) expect(name, context).toBe(SOFTIRQ_NAMES[vec as number] ?? `<unknown:${vec}>`);
      const timer = labelledRow(soft, 'timer');
      expect(timer, context).toBeDefined();
      expect(timer![0], context).toBe(1);
      console.log(
        `${spin.name}: ${dataRows(soft!)
          .map(([name, vec, count, total]) => `${name}(${vec}) x${count} ${total} ns`)
          .join(', ')}`,
      );
    }
    // No vector is counted more often than the kernel ran it over the whole run.
    for (const [name, count] of countsByLabel(threads, 'SOFT IRQ STATISTICS')) {
      const kernel = softDelta.find((v) => v.name === name);
      expect(kernel, `${name}\n${stdout}`).toBeDefined();
      expect(count, `${name}: kdelay ${count}, /proc/softirqs ${kernel!.total}\n${stdout}`).toBeLessThanOrEqual(kernel!.total);
    }
  });

  it("counts the disk's completion interrupts that arrived while a busy thread was on the CPU", async () => {
    requireBpf();
    const irqs = diskIrqs(IO_DIR);
    expect(irqs, `no interrupt found for the disk under ${IO_DIR}`).not.toHaveLength(0);
    const { code, stderr, stdout, threads, writes, irqDelta } = await measure(true);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(writes).toBeGreaterThan(0);
    const disk = irqDelta.filter((line) => irqs.includes(line.id));
    const diskInterrupts = disk.reduce((sum, line) => sum + line.total, 0);
    const fired = irqDelta.filter((l) => l.total > 0).map((l) => `${l.id} +${l.total} ${l.text}`);
    console.log(`disk IRQs ${irqs.join(',')}; ${writes} write+fsync; /proc/interrupts over the run:\n  ${fired.join('\n  ')}`);
    expect(diskInterrupts, `the disk took no interrupts for ${writes} O_DIRECT writes + fsync`).toBeGreaterThan(0);

    for (const t of threads) {
      const hard = t.sections.get('HARD IRQ STATISTICS');
      if (!hard) continue;
      const context = `${t.name}\n${stdout}`;
      expect(hard.header, context).toEqual(['NAME', 'COUNT', 'TOTAL ns', 'MAX ns']);
      expectConsistent(hard, context);
    }
    // Every name is a handler /proc/interrupts knows, counted no more often than the kernel saw its line fire.
    const counted = countsByLabel(threads, 'HARD IRQ STATISTICS');
    for (const [name, count] of counted) {
      const lines = irqDelta.filter((line) => hasHandler(line, name));
      expect(lines, `${name} is not in /proc/interrupts\n${stdout}`).not.toHaveLength(0);
      expect(count, `${name}: kdelay ${count}\n${stdout}`).toBeLessThanOrEqual(lines.reduce((sum, l) => sum + l.total, 0));
    }
    // The disk's interrupt shows up by name on a busy thread: each write + fsync completes
    // at least once, on a CPU where a spin-N thread runs (disk-io itself is asleep).
    const diskOnSpinners = threads
      .filter((t) => t.name.startsWith('spin-'))
      .flatMap((t) => dataRows(t.sections.get('HARD IRQ STATISTICS') ?? { title: '', header: [], rows: [] }))
      .filter(([name]) => disk.some((line) => hasHandler(line, name)))
      .reduce((sum, row) => sum + (row[1] as number), 0);
    console.log(`disk interrupts: ${diskInterrupts} in /proc/interrupts, ${diskOnSpinners} counted on spin-N threads`);
    expect(diskOnSpinners, stdout).toBeGreaterThanOrEqual(Math.ceil(writes / 4));
  });

  it('counts nothing for threads that stay blocked, and leaves no program behind', async () => {
    requireBpf();
    const { code, stdout, threads } = await measure(false);
    expect(code).toBe(0);
    for (const t of threads) {
      expect(t.sections.has('HARD IRQ STATISTICS'), stdout).toBe(false);
      expect(t.sections.has('SOFT IRQ STATISTICS'), stdout).toBe(false);
    }
    expect(await waitUntilNoKdelayPrograms(['irq_'])).toEqual([]);
  });
});
