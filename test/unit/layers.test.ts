/**
 * The import rules of .dependency-cruiser.cjs (ARCHITECTURE.md, "Layers"):
 * the real tree obeys them (npm test also runs `npm run lint`), and the
 * checker does fail on an upward import: a copy of host/ with one added
 * report -> driver import, and one driver file loading the concrete libbpf
 * backend eagerly; and a copy with runtime <-> report and model -> report
 * imports.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const DEPCRUISE = join(ROOT, 'node_modules', '.bin', 'depcruise');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');

function cruise(cwd: string): { status: number; output: string } {
  try {
    const output = execFileSync(DEPCRUISE, ['host', '--config', CONFIG, '--output-type', 'err'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { status: 0, output };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { status: e.status, output: e.stdout + e.stderr };
  }
}

describe('one-way imports', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'kdelay-layers-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('host/ imports only downward', () => {
    const { status, output } = cruise(ROOT);
    expect(output).toMatch(/no dependency violations found \((\d+) modules/);
    expect(status).toBe(0);
  });

  it('an upward import and an eager libbpf load fail the check, each named by its rule', () => {
    cpSync(join(ROOT, 'host'), join(scratch, 'host'), { recursive: true });
    cpSync(join(ROOT, 'tsconfig.json'), join(scratch, 'tsconfig.json'));
    writeFileSync(join(scratch, 'host', 'report', 'upward.ts'), "import { measure } from '../driver/measure.js';\nexport const upward = measure;\n");
    writeFileSync(join(scratch, 'host', 'driver', 'eager.ts'), "import { LibbpfBackend } from '../libbpf/libbpf-backend.js';\nexport const eager = LibbpfBackend;\n");
    const { status, output } = cruise(scratch);
    expect(status).not.toBe(0);
    expect(output).toContain('error layer-report: host/report/upward.ts → host/driver/measure.ts');
    expect(output).toContain('error concrete-libbpf-only-in-composition-root: host/driver/eager.ts → host/libbpf/libbpf-backend.ts');
    expect(output).toMatch(/2 dependency violations \(2 errors/);
  });

  it('runtime/ and report/ meet only in model/: neither imports the other, and model/ imports neither', () => {
    const copy = join(scratch, 'sideways');
    cpSync(join(ROOT, 'host'), join(copy, 'host'), { recursive: true });
    cpSync(join(ROOT, 'tsconfig.json'), join(copy, 'tsconfig.json'));
    writeFileSync(join(copy, 'host', 'runtime', 'renders.ts'), "import { OUTPUT_FORMATS } from '../report/sinks.js';\nexport const renders = OUTPUT_FORMATS;\n");
    writeFileSync(join(copy, 'host', 'report', 'hosts.ts'), "import { ProbeError } from '../runtime/probe-guest.js';\nexport const hosts = ProbeError;\n");
    writeFileSync(join(copy, 'host', 'model', 'laid-out.ts'), "import { formatStatistics } from '../report/statistics.js';\nexport const laidOut = formatStatistics;\n");
    const { status, output } = cruise(copy);
    expect(status).not.toBe(0);
    expect(output).toContain('error layer-runtime: host/runtime/renders.ts → host/report/sinks.ts');
    expect(output).toContain('error layer-report: host/report/hosts.ts → host/runtime/probe-guest.ts');
    expect(output).toContain('error layer-model: host/model/laid-out.ts → host/report/statistics.ts');
    expect(output).toMatch(/3 dependency violations \(3 errors/);
  }, 180_000);
});
