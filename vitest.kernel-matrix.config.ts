import { defineConfig } from 'vitest/config';

// The kernel matrix (npm run test:kernel-matrix): boots Debian kernels under qemu,
// minutes per run, so it is not part of `npm test`. One file; its guests run
// two at a time inside it.
export default defineConfig({
  test: {
    include: ['test/kernel-matrix/*.test.ts'],
    fileParallelism: false,
    testTimeout: 20 * 60_000,
    hookTimeout: 30 * 60_000,
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results-kernel-matrix.json' },
  },
});
