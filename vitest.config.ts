import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // test/unit: no kernel needed; test/kernel: BPF and root (they fail under CI=true without them).
    // The kernel matrix (test/kernels/) boots VMs for minutes: its own run, npm run test:kernels.
    include: ['test/unit/**/*.test.ts', 'test/kernel/**/*.test.ts'],
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
