import { configDefaults, defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// The contributor tier (npm run test:contributor, run by .ci/run after npm test):
// a `git clone` of HEAD, npm ci, new-probe, build:probes, check:probes and a
// test run inside the clone, 5-20 minutes, so it is not part of `npm test`.
// Same setup as npm test (global setup, timeouts), its own file and results.
export default defineConfig({
  test: {
    ...base.test,
    include: ['test/contributor/*.test.ts'],
    exclude: configDefaults.exclude,
    outputFile: { json: 'test-results-contributor.json' },
  },
});
