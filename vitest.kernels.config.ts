import { defineConfig } from 'vitest/config';

// The kernel matrix (npm run test:kernels): boots Debian kernels under qemu,
// minutes per run, so it is not part of `npm test`. One file; its guests run
// two at a time inside it.
export default defineConfig({
  test: {
    include: ['test/kernels/*.test.ts'],
    fileParallelism: false,
    testTimeout: 20 * 60_000,
    hookTimeout: 30 * 60_000,
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results-kernels.json' },
  },
});
