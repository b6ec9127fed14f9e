import { describe, expect, it } from 'vitest'
import { allocatorEnv, daemonAllocator, DAEMON_JEMALLOC_CONF, enterDaemonProcess, findJemalloc, jemallocCandidates } from '../../cli/daemon-exec.ts'

// The launcher's choice of allocator for the daemon (cli/daemon-exec.ts), and that what it added leaves the
// daemon's environment again, so that the hypervisor commands the daemon starts run on their own allocator.

const LIB = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2'

describe('allocatorEnv', () => {
  it('preloads jemalloc with the daemon settings when the host has it', () => {
    expect(allocatorEnv({ PATH: '/bin' }, LIB)).toEqual({ LD_PRELOAD: LIB, MALLOC_CONF: DAEMON_JEMALLOC_CONF, SDPEER_DAEMON_ADDED: 'LD_PRELOAD,MALLOC_CONF' })
  })
  it('falls back to glibc with two arenas without jemalloc, or when asked to', () => {
    const glibc = { MALLOC_ARENA_MAX: '2', SDPEER_DAEMON_ADDED: 'MALLOC_ARENA_MAX' }
    expect(allocatorEnv({}, undefined)).toEqual(glibc)
    expect(allocatorEnv({ SDPEER_MALLOC: 'glibc' }, LIB)).toEqual(glibc)
  })
  it("leaves an operator's own allocator settings alone", () => {
    expect(allocatorEnv({ LD_PRELOAD: '/opt/lib/libtcmalloc.so' }, LIB)).toEqual({ MALLOC_ARENA_MAX: '2', SDPEER_DAEMON_ADDED: 'MALLOC_ARENA_MAX' })
    expect(allocatorEnv({ MALLOC_CONF: 'narenas:4' }, LIB)).toEqual({ MALLOC_ARENA_MAX: '2', SDPEER_DAEMON_ADDED: 'MALLOC_ARENA_MAX' })
    expect(allocatorEnv({ MALLOC_ARENA_MAX: '8' }, LIB)).toEqual({})
    expect(allocatorEnv({ MALLOC_ARENA_MAX: '8' }, undefined)).toEqual({})
  })
})

describe('enterDaemonProcess', () => {
  it('removes exactly what the launcher added, and only allocator variables', () => {
    const poolSize = Buffer.poolSize
    try {
      const env: NodeJS.ProcessEnv = { LD_PRELOAD: LIB, MALLOC_CONF: DAEMON_JEMALLOC_CONF, SDPEER_DAEMON_ADDED: 'LD_PRELOAD,MALLOC_CONF,PATH', SDPEER_DAEMON_STAGE: 'tuned', PATH: '/bin', MALLOC_ARENA_MAX: '4' }
      expect(enterDaemonProcess(env)).toBe('tuned')
      expect(env).toEqual({ PATH: '/bin', MALLOC_ARENA_MAX: '4' })
    } finally { Buffer.poolSize = poolSize }
  })
})

describe('finding jemalloc', () => {
  it('looks in the multiarch directory first, then the usual ones', () => {
    expect(jemallocCandidates('x64')[0]).toBe(LIB)
    expect(jemallocCandidates('arm64')[0]).toBe('/usr/lib/aarch64-linux-gnu/libjemalloc.so.2')
    expect(findJemalloc(p => p === '/usr/lib64/libjemalloc.so.2', jemallocCandidates('x64'))).toBe('/usr/lib64/libjemalloc.so.2')
    expect(findJemalloc(() => false)).toBeUndefined()
  })
  it('tells the allocator from the process maps', () => {
    expect(daemonAllocator(() => `7f00-7f01 r-xp 0 08:01 1 ${LIB}\n`)).toBe('jemalloc')
    expect(daemonAllocator(() => '7f00-7f01 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6\n')).toBe('glibc')
    expect(daemonAllocator(() => { throw new Error('no /proc') })).toBe('glibc')
  })
})
