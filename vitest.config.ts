import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Ceilings for a test that hangs, well above the harness's waits (60 s each): on a busy machine
    // a test is slower, and that must not make it fail.
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Node 20 is supported; the SDK's notice about its future Node 22 requirement is noise here.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
