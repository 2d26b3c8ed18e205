import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The kernel matrix boots VMs for minutes: its own run, npm run test:kernels.
    exclude: [...configDefaults.exclude, 'test/kernels/**'],
    // Kernel tests measure real timings on a 2-CPU machine: run files one at a time.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    globalSetup: ['test/global-setup.ts'],
    // Under CI a JSON summary too, which .ci/run restates as a plain closing line.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results.json' },
  },
});
