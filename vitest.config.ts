import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Process-spawning suites (daemons, qemu guests) must not fight for the two cores.
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default']
  }
})
