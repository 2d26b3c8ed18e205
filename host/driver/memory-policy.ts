/**
 * How the CLI's process holds its memory over a long run. A sampler runs
 * for hours and each sample allocates and drops the same things again, so
 * its RSS should reach its level in the first samples and stay there
 * (issue 15's target: within 10% from sample 10 to sample 1,000 of a
 * 2,000-thread target; npm run bench, memory). Two defaults of the
 * platform made it creep instead (+21% before these settings, +3% after):
 *
 * - V8 doubles its young generation each time as many bytes have survived
 *   scavenges, in total, as it holds; every sample's tables survive one or
 *   two, so it doubled every few hundred samples, 4 MB at a time. With a
 *   growth factor of 1 it stays at its initial size; a sample allocates a
 *   few hundred kB, so the extra scavenges cost tens of microseconds.
 * - glibc malloc's mmap threshold (see mapLargeAllocations).
 *
 * Until the probes are loaded, the heap keeps large blocks instead
 * (reuseMemoryWhileLoading): libbpf parses the kernel's BTF once per BPF
 * object, and reusing the pages of the last parse is what makes the next
 * one cheap (libbpf/libbpf-backend.ts, load).
 *
 * Library users (tests, scripts) keep the platform's defaults.
 */
import { setFlagsFromString } from 'node:v8';
import { mapLargeAllocations, reuseLargeAllocations } from '../libbpf/libc.js';

/** From before the first BPF object loads until holdMemorySteady(), once the probes are attached. */
export function reuseMemoryWhileLoading(): void {
  reuseLargeAllocations();
}

export function holdMemorySteady(): void {
  // Read by V8 each time it grows the young generation, so it applies after start-up too.
  setFlagsFromString('--semi-space-growth-factor=1');
  mapLargeAllocations();
}
