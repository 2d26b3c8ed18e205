/** Kernel releases as uname -r prints them ("6.18.0-1-amd64"), compared by their leading numbers. */

/** Compares "6.18.0-1-amd64" with "5.8": true when the release is at least that version. */
export function releaseAtLeast(kernelRelease: string, wanted: string): boolean {
  const have = (kernelRelease.match(/^\d+(\.\d+)*/)?.[0] ?? '0').split('.').map(Number);
  const want = wanted.split('.').map(Number);
  for (let i = 0; i < want.length; i++) {
    const h = have[i] ?? 0;
    if (h !== want[i]) return h > want[i];
  }
  return true;
}
