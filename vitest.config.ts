import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // test/unit: no kernel needed; test/integration: BPF and root (they fail under CI=true without them).
    // Two tiers take minutes and run apart: the kernel matrix (test/kernel-matrix/, boots VMs:
    // npm run test:kernel-matrix) and the contributor checkout (test/contributor/, a clone
    // built from nothing: npm run test:contributor).
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'],
    exclude: [...configDefaults.exclude, 'test/kernel-matrix/**', 'test/contributor/**'],
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
