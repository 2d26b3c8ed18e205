/** `kdelay -p PID --list-probes`: what triggers the target's executable offers (USDT probes, uprobes by function name). */
import { ElfFile } from '../../symbols/elf.js';
import { jsonRecord } from '../../report/json-records.js';
import { readTargetExecutable } from '../../system/trigger-targets.js';
import { semaphoreCount, usdtProbes } from '../../system/usdt-notes.js';

/** --list-probes: what triggers the target's executable offers. */
export function listProbes(pid: number, print: (line: string) => void, json: boolean): void {
  const { exe, probes, elf } = readTargetExecutable(pid, '--list-probes', (exe) => ({ exe, probes: usdtProbes(exe), elf: ElfFile.open(exe) }));
  if (json) {
    for (const p of probes) {
      const semaphore = p.semaphore ? { semaphore_address: `0x${p.semaphore.toString(16)}`, semaphore_count: semaphoreCount(pid, exe, p.semaphore) ?? null } : {};
      print(jsonRecord('usdt_probe', { pid, binary: exe, provider: p.provider, name: p.name, semaphore: Boolean(p.semaphore), ...semaphore }));
    }
    print(jsonRecord('uprobe_functions', { pid, binary: exe, functions: elf.symbols.length, stripped: !elf.hasSymtab }));
    return;
  }
  print(`# USDT probes in ${exe}: ${probes.length || 'none (Open vSwitch needs ./configure --enable-usdt-probes)'}`);
  for (const p of probes) {
    const count = p.semaphore ? semaphoreCount(pid, exe, p.semaphore) : undefined;
    print(`u:${p.provider}:${p.name}${p.semaphore ? `  (semaphore at 0x${p.semaphore.toString(16)}, now ${count ?? 'unreadable'})` : ''}`);
  }
  if (probes.some((p) => p.semaphore)) {
    print('# a probe with a semaphore runs only while it is non-zero (now: how many tracers hold it); kdelay raises it while its trigger is attached');
  }
  print(
    elf.hasSymtab
      ? `# uprobes by function name (up:FUNCTION, ur:FUNCTION): possible, ${elf.symbols.length} functions in its symbol table`
      : `# uprobes by function name: only its ${elf.symbols.length} exported functions (the binary is stripped)`,
  );
}
