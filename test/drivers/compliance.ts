import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { DomainHandle, DomainSpec, HypervisorDriver } from '../../node/drivers/types.ts'

// The contract every HypervisorDriver keeps (js-libp2p's interface-compliance-tests are the model): one suite, run
// by each driver's own test file. Usage, from test/drivers/NAME.test.ts:
//
//   driverCompliance('qemu', stateDir => new QemuDriver({ stateDir }), (name, variant) => specFor(name, variant), {
//     startTimeoutMs: 20_000, shutdownTimeoutMs: 5_000
//   })
//
// `makeDriver(stateDir)` is called once per test with a fresh temp dir, and a second time with the SAME dir in the
// recovery test (a new driver instance, as after a daemon restart). `makeSpec(name, variant)` gives a domain:
//   'plain'            boots and shuts down gracefully when asked;
//   'ignores-shutdown' keeps running when asked to shut down (the driver must destroy it after the timeout);
//   'fails-start'      cannot start (the driver must reject and leave nothing behind).

export type SpecVariant = 'plain' | 'ignores-shutdown' | 'fails-start'

export interface DriverComplianceOptions {
  /** Per-test timeout for starting a domain. Default 10 s. */
  startTimeoutMs?: number
  /** The timeout handed to shutdown() in the ignores-shutdown test; the call must resolve soon after it. Default 500 ms. */
  shutdownTimeoutMs?: number
}

type MaybePromise<T> = T | Promise<T>

export function driverCompliance (
  name: string,
  makeDriver: (stateDir: string) => MaybePromise<HypervisorDriver>,
  makeSpec: (domainName: string, variant: SpecVariant) => MaybePromise<DomainSpec>,
  options: DriverComplianceOptions = {}
): void {
  const startTimeoutMs = options.startTimeoutMs ?? 10_000
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 500
  const testTimeout = startTimeoutMs * 2 + shutdownTimeoutMs * 4 + 5_000
  // Every driver produces every variant (sim by its knobs, qemu and libvirt with real guests, xen's stand-in by its
  // recorded behaviour): no variant may be skipped.
  const variantTest = (_variant: SpecVariant, title: string, fn: () => Promise<void>): void => {
    it(title, fn, testTimeout)
  }

  describe(`HypervisorDriver compliance: ${name}`, () => {
    let stateDir: string
    let drivers: HypervisorDriver[]
    let started: DomainHandle[]
    let seq = 0

    const driver = async (): Promise<HypervisorDriver> => {
      const d = await makeDriver(stateDir)
      drivers.push(d)
      return d
    }
    const start = async (d: HypervisorDriver, variant: SpecVariant = 'plain', domainName = `cmp-${process.pid}-${++seq}`): Promise<DomainHandle> => {
      const h = await d.start(await makeSpec(domainName, variant))
      started.push(h)
      return h
    }

    beforeEach(async () => {
      stateDir = await mkdtemp(join(tmpdir(), `sdpeer-compliance-${name}-`))
      drivers = []
      started = []
    })
    afterEach(async () => {
      // Whatever a failed test left running goes, through the last driver instance (it knows all domains).
      const last = drivers[drivers.length - 1]
      if (last !== undefined) for (const h of started) await last.destroy(h).catch(() => {})
      await rm(stateDir, { recursive: true, force: true })
    })

    it('fingerprint names the driver and offers capacity', async () => {
      const fp = await (await driver()).fingerprint()
      expect(fp.driver).toBe(name)
      expect(fp.available).toBe(true)
      expect(fp.capacity.memoryMiB).toBeGreaterThan(0)
      expect(fp.capacity.vcpus).toBeGreaterThan(0)
      expect(Number.isInteger(fp.capacity.memoryMiB) && Number.isInteger(fp.capacity.vcpus)).toBe(true)
    })

    it('start resolves with a handle of a running domain, listed by name', async () => {
      const d = await driver()
      const h = await start(d)
      expect(h.driver).toBe(name)
      expect((await d.status(h)).state).toBe('running')
      expect(await d.list()).toContain(h.name)
    }, testTimeout)

    it('refuses a second domain with the same name and keeps the first', async () => {
      const d = await driver()
      const h = await start(d)
      await expect(d.start(await makeSpec(h.name, 'plain'))).rejects.toMatchObject({ name: 'DriverError' })
      expect((await d.status(h)).state).toBe('running')
      expect((await d.list()).filter(n => n === h.name)).toHaveLength(1)
    }, testTimeout)

    it('shutdown stops the domain and removes it from the list', async () => {
      const d = await driver()
      const h = await start(d)
      await d.shutdown(h, Math.max(shutdownTimeoutMs, 5_000))
      expect(['stopped', 'missing']).toContain((await d.status(h)).state)
      expect(await d.list()).not.toContain(h.name)
      await d.shutdown(h, shutdownTimeoutMs) // idempotent
    }, testTimeout)

    it('destroy is immediate and idempotent', async () => {
      const d = await driver()
      const h = await start(d)
      const other = await start(d)
      await d.destroy(h)
      await d.destroy(h)
      expect(['stopped', 'missing']).toContain((await d.status(h)).state)
      expect(await d.list()).not.toContain(h.name)
      expect((await d.status(other)).state).toBe('running')
    }, testTimeout)

    variantTest('ignores-shutdown', 'shutdown of a domain that ignores it destroys it when the timeout expires', async () => {
      const d = await driver()
      const h = await start(d, 'ignores-shutdown')
      const t0 = performance.now()
      await d.shutdown(h, shutdownTimeoutMs)
      const elapsed = performance.now() - t0
      expect(elapsed).toBeGreaterThanOrEqual(shutdownTimeoutMs * 0.9)
      expect(elapsed).toBeLessThan(shutdownTimeoutMs + 5_000)
      expect(['stopped', 'missing']).toContain((await d.status(h)).state)
      expect(await d.list()).not.toContain(h.name)
    })

    it('a new driver instance recovers a running domain from its saved handle', async () => {
      const first = await driver()
      const h = await start(first)
      const saved = JSON.parse(JSON.stringify(h)) as DomainHandle
      const second = await driver()
      expect((await second.recover(saved)).state).toBe('running')
      expect(await second.list()).toContain(h.name)
      expect((await second.status(saved)).state).toBe('running')
      await second.shutdown(saved, Math.max(shutdownTimeoutMs, 5_000))
      expect(await second.list()).not.toContain(h.name)
      expect(['stopped', 'missing']).toContain((await second.recover(saved)).state)
    }, testTimeout)

    variantTest('fails-start', 'a start that fails rejects with DriverError and leaves nothing in the list', async () => {
      const d = await driver()
      const before = await d.list()
      const spec = await makeSpec(`cmp-fail-${process.pid}-${++seq}`, 'fails-start')
      await expect(d.start(spec)).rejects.toMatchObject({ name: 'DriverError' })
      expect(await d.list()).toEqual(before)
      // The name is free again: nothing half-created holds it.
      const h = await start(d, 'plain', spec.name)
      expect((await d.status(h)).state).toBe('running')
    })
  })
}
