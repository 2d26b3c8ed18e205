/**
 * A probe from outside kdelay: examples/pagefaults, built from its own folder
 * into one bundle at test time and signed by its "author", loaded by the
 * unmodified CLI with --probe; and what kdelay refuses or skips.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { splitSeal, sealBundle } from '../../host/bundle/seal.js';
import { buildExampleProbe, type KeyPair, makeKeyPair, moveInto } from '../helpers/probe-variants.js';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_PROBES, requireBpf, skipWithoutBpf, waitUntilNoKdelayPrograms } from '../helpers/bpf.js';
import { runKdelay, sampleWorkload } from '../helpers/kdelay.js';
import { parseReport } from '../helpers/report.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';
import { tempDir } from '../helpers/temp-dirs.js';

const PAGES = 500;
let author: KeyPair;
/** Signed by author. */
let bundle: string;
let workload: RunningWorkload | undefined;

beforeAll(() => {
  author = makeKeyPair();
  bundle = buildExampleProbe('pagefaults', {}, author);
});

/** A copy of the signed bundle, changed by edit, in a fresh folder. */
function copyOf(edit: (bytes: Buffer) => Buffer): string {
  const file = join(tempDir('kdelay-copy-'), 'pagefaults.wasm');
  writeFileSync(file, edit(readFileSync(bundle)));
  return file;
}
afterEach(async () => {
  await workload?.stop();
  workload = undefined;
});

describe.skipIf(skipWithoutBpf)('a third-party probe', () => {
  it('is listed as coming from its file, signed by the key the user trusts', async () => {
    const { code, stdout, stderr } = await runKdelay(['probes', 'list', '--probe', bundle, '--trust-key', author.publicFile]);
    expect(code, stderr).toBe(0);
    // page_fault_user is an x86 tracepoint: the example is built for x86_64 only.
    expect(stdout).toContain(`\npagefaults  0.1.0    x86_64        ${bundle}  signed (${author.publicFile})`);
    expect(stdout).toMatch(/ PAGE FAULT$/m); // titles without "STATISTICS", so that the list fits 100 columns
  });

  it('adds its own section to the report, with the right numbers', async () => {
    requireBpf();
    workload = await startWorkload('pagefault_workload', [PAGES]);
    const { code, stdout, stderr } = await sampleWorkload(workload, ['--probe', bundle, '--trust-key', author.publicFile]);
    expect(code, stderr).toBe(0);
    const toucher = parseReport(stdout).find((t) => t.name === 'toucher');
    const section = toucher?.sections.get('PAGE FAULT STATISTICS');
    expect(section?.header, stdout).toEqual(['FAULTS', 'WRITES']);
    const [faults, writes] = section!.rows[0].map(Number);
    // One write fault per fresh page, plus the few a thread takes anyway (its stack, libc data).
    expect(writes).toBeGreaterThanOrEqual(PAGES);
    expect(faults).toBeGreaterThanOrEqual(writes);
    expect(faults).toBeLessThanOrEqual(PAGES + 20);
    expect(await waitUntilNoKdelayPrograms(['pagefaults_'])).toEqual([]);
  });
});

describe('what kdelay refuses before loading a third-party bundle (exit 78, one line)', () => {
  it('a bundle signed by a key the user does not trust, unless --allow-unsigned', async () => {
    const refused = await runKdelay(['probes', 'list', '--probe', bundle]);
    expect(refused.code).toBe(78);
    expect(refused.stderr).toMatch(/^kdelay: refusing .*pagefaults\.wasm: it is signed by key [0-9a-f]{16}, which kdelay does not trust \(add --trust-key KEY\.pub/);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    const allowed = await runKdelay(['probes', 'list', '--probe', bundle, '--allow-unsigned']);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stdout).toMatch(/^pagefaults .* signed by untrusted key [0-9a-f]{16} /m);
  });

  it('an unsigned bundle (a digest only), unless --allow-unsigned', async () => {
    const unsigned = copyOf((bytes) => sealBundle(splitSeal(bytes).body));
    const refused = await runKdelay(['probes', 'list', '--probe', unsigned, '--trust-key', author.publicFile]);
    expect(refused.code).toBe(78);
    expect(refused.stderr).toBe(`kdelay: refusing ${unsigned}: it is not signed, and it loads kernel code as root; add --allow-unsigned if you trust it\n`);
    const allowed = await runKdelay(['probes', 'list', '--probe', unsigned, '--allow-unsigned']);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stdout).toMatch(/^pagefaults .* unsigned \(digest only\) /m);
  });

  it('a bundle with one flipped byte, even with --allow-unsigned', async () => {
    // A byte in the middle of the module: its code or embedded object.
    const tampered = copyOf((bytes) => {
      bytes[Math.floor(bytes.length / 2)] ^= 0x20;
      return bytes;
    });
    const { code, stderr } = await runKdelay(['probes', 'list', '--probe', tampered, '--trust-key', author.publicFile, '--allow-unsigned']);
    expect(code).toBe(78);
    expect(stderr).toMatch(
      new RegExp(`^kdelay: refusing ${tampered}: digest mismatch: the file was changed after it was sealed \\(sha256 [0-9a-f]{64}, sealed as [0-9a-f]{64}\\)\\n$`),
    );
  });

  it('a bundle whose BPF object uses a forbidden program kind, unless --allow-program-kind names it', async () => {
    const xdp = buildExampleProbe('faults_xdp', { extraBpf: '\nSEC("xdp") int pass_all(void *ctx) { return 2; }\n' }, author);
    const refused = await runKdelay(['probes', 'list', '--probe', xdp, '--trust-key', author.publicFile]);
    expect(refused.code).toBe(78);
    expect(refused.stderr).toBe(`kdelay: refusing ${xdp}: program section "xdp" is not an allowed kind (kdelay loads tracing programs only; --allow-program-kind to override)\n`);
    const allowed = await runKdelay(['probes', 'list', '--probe', xdp, '--trust-key', author.publicFile, '--allow-program-kind', 'xdp']);
    expect(allowed.code, allowed.stderr).toBe(0);
  });

  it('a forbidden program in the object of another architecture is refused too', async () => {
    // Only the arm64 object carries it; this machine would never open that one, but it is signed kernel code all the same.
    const armOnly = buildExampleProbe(
      'faults_arm',
      { extraBpf: '\n#ifdef __TARGET_ARCH_arm64\nSEC("xdp") int pass_all(void *ctx) { return 2; }\n#endif\n', manifest: { architectures: ['x86_64', 'arm64'] } },
      author,
    );
    const refused = await runKdelay(['probes', 'list', '--probe', armOnly, '--trust-key', author.publicFile]);
    expect(refused.code).toBe(78);
    expect(refused.stderr).toBe(
      `kdelay: refusing ${armOnly}: program section "xdp" is not an allowed kind (kdelay loads tracing programs only; --allow-program-kind to override)\n`,
    );
  });

  it('the build refuses code an older kernel than min_kernel would reject, naming it', () => {
    const cas = `
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, u32); __type(value, u64); } flag SEC(".maps");
SEC("tp_btf/sched_switch") int faults_cas_flip(void *ctx) { u32 zero = 0; u64 *f = bpf_map_lookup_elem(&flag, &zero);
  return f ? (int)__sync_val_compare_and_swap(f, 0, 1) : 0; }
`;
    expect(() => buildExampleProbe('faults_cas', { extraBpf: cas }, author)).toThrow(
      'build of .test-probes/faults_cas failed: .test-probes/faults_cas/faults_cas.bpf.c (x86_64) uses what kernels older than its min_kernel 5.10 lack:\n' +
        '  section tp_btf/sched_switch: atomic cmpxchg needs 5.12\n' +
        'use what 5.10 has (probes/README.md, "Kernels"), or raise "min_kernel" in .test-probes/faults_cas/manifest.json',
    );
    // Claiming a newer floor is honest: it builds, and kdelay then skips it on older kernels.
    expect(buildExampleProbe('faults_cas', { extraBpf: cas, manifest: { min_kernel: '5.12' } }, author)).toMatch(/faults_cas\.wasm$/);
  });

  it('a bundle built for another machine only is listed as not available here', async () => {
    const armOnly = buildExampleProbe('faults_a64', { manifest: { architectures: ['arm64'] } }, author);
    const { code, stdout, stderr } = await runKdelay(['probes', 'list', '--probe', armOnly, '--trust-key', author.publicFile]);
    expect(code, stderr).toBe(0);
    // The list wraps at 100 columns: its continuation lines joined back.
    expect(stdout.replace(/\n +/g, ' ')).toMatch(/^faults_a64 +0\.1\.0 +arm64 +.*\[skipped: needs arm64: this machine is x86_64, and the bundle carries no BPF object for it\]$/m);
  });
});

describe('where third-party bundles come from', () => {
  it('$KDELAY_HOME/probes.d adds bundles to every run, trusted through $KDELAY_HOME/trusted-keys', async () => {
    const home = tempDir('kdelay-home-');
    const installed = moveInto(buildExampleProbe('pagefaults', {}, author), join(home, 'probes.d'));
    const key = join(home, 'trusted-keys', 'author.pub');
    mkdirSync(join(home, 'trusted-keys'));
    copyFileSync(author.publicFile, key);
    const { code, stdout, stderr } = await runKdelay(['probes', 'list'], { ...process.env, KDELAY_HOME: home });
    expect(code, stderr).toBe(0);
    expect(stdout).toContain(`\npagefaults  0.1.0    x86_64        ${installed}  signed (${key})`);
  });

  it('--probe DIR adds every bundle in the folder', async () => {
    const dir = tempDir('kdelay-dir-');
    copyFileSync(bundle, join(dir, 'pagefaults.wasm'));
    const { code, stdout, stderr } = await runKdelay(['probes', 'list', '--probe', dir, '--trust-key', author.publicFile]);
    expect(code, stderr).toBe(0);
    expect(stdout).toContain(`\npagefaults  0.1.0    x86_64        ${join(dir, 'pagefaults.wasm')}  signed`);
  });
});

describe.skipIf(skipWithoutBpf)('choosing and skipping probes', () => {
  /** A process that makes write() calls all the time, so every report has rows; killed after each test. */
  let busy: ChildProcess | undefined;
  const writer = () => (busy = spawn('dd', ['if=/dev/zero', 'of=/dev/null', 'bs=1'], { stdio: 'ignore' }));
  afterEach(() => void busy?.kill());

  it('a probe needing a kernel feature this kernel lacks is skipped with its reason; the others report', async () => {
    requireBpf();
    const future = buildExampleProbe('faults_future', { manifest: { requires: ['btf', 'kernel>=99'] } }, author);
    const busy = writer();
    const listed = await runKdelay(['probes', 'list', '--probe', future, '--trust-key', author.publicFile]);
    // The list wraps at 100 columns: its continuation lines joined back.
    expect(listed.stdout.replace(/\n +/g, ' ')).toMatch(/^faults_future .* PAGE FAULT \[skipped: needs kernel>=99: this kernel is \S+\]$/m);
    const { code, stdout, stderr } = await runKdelay(['-p', busy.pid!, '--sample-time', 0.5, '--probe', future, '--trust-key', author.publicFile]);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^# PAGE FAULT STATISTICS: not available \(needs kernel>=99: this kernel is \S+\)$/m);
    expect(stdout.match(/PAGE FAULT STATISTICS/g)).toHaveLength(1);
    expect(stdout, stdout).toContain('[SYSCALL STATISTICS]');
    expect(await waitUntilNoKdelayPrograms(['pagefaults_'])).toEqual([]);
  });

  it('--only and --skip choose which probes run and report', async () => {
    requireBpf();
    const busy = writer();
    const only = await runKdelay(['-p', busy.pid!, '--sample-time', 0.5, '--probe', bundle, '--trust-key', author.publicFile, '--only', 'syscalls']);
    expect(only.code, only.stderr).toBe(0);
    expect(only.stdout).toContain('[SYSCALL STATISTICS]');
    expect(only.stdout).not.toMatch(/THREAD (RUN|READY)|IRQ STATISTICS|PAGE FAULT|UPCALL/);
    // The reference's layout, which shows UPCALL for any target.
    const skip = await runKdelay(['-p', busy.pid!, '--sample-time', 0.5, '--format', 'reference', '--skip', 'sched,irq']);
    expect(skip.code, skip.stderr).toBe(0);
    expect(skip.stdout).toContain('[SYSCALL STATISTICS]');
    expect(skip.stdout).toContain('# UPCALL STATISTICS: not available');
    expect(skip.stdout).not.toMatch(/THREAD (RUN|READY)|IRQ STATISTICS/);
    const triggerless = await runKdelay(['-p', busy.pid!, '--skip', 'trigger', '--start-trigger', 't:syscalls:sys_enter_getcpu']);
    expect(triggerless.code).toBe(2);
    expect(triggerless.stderr).toBe('kdelay: --skip trigger: the trigger probe is what --start-trigger and --stop-trigger run on\n');
    const unknown = await runKdelay(['-p', busy.pid!, '--skip', 'schedd']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(`kdelay: unknown probe 'schedd' (available: ${BUILTIN_PROBES.join(', ')})\n`);
  });
});
