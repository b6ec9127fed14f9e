import { describe, expect, it } from 'vitest'
import { HostViewsError, parseHostViews } from '../../node/scheduler/host-views.ts'

// Host views from a file or from the control API's `hosts` answer: validated field by field.

describe('parseHostViews', () => {
  it('reads the mesh shape, the {hosts} wrapper, images and attributes; leaves out hosts nothing can go to', () => {
    const views = parseHostViews({
      self: { peerId: 'P1' },
      hosts: [
        { peerId: 'P1', hostNames: ['a', 'a.cern.ch'], state: 'self', capacity: { memoryMb: 4096, vcpus: 4 }, load: { memoryMb: 1024, vcpus: 1, domains: 1 }, driver: 'xen', images: ['slc3'], attributes: { rack: 'r1', ssd: true } },
        { host: 'b', capacity: { memoryMb: 2048, vcpus: 2 } },
        { peerId: 'P9', hostNames: [], state: 'alive' },
        { peerId: 'P8', hostNames: ['c'], state: 'alive' }
      ]
    })
    expect(views.map(v => [v.hostNames[0], v.state, v.capacity?.memoryMb, v.load?.memoryMb])).toEqual([['a', 'self', 4096, 1024], ['b', 'alive', 2048, 0]])
    expect(views[0]).toMatchObject({ peerId: 'P1', driver: 'xen', images: ['slc3'], attributes: { rack: 'r1', ssd: true } })
  })

  it('names the offending field', () => {
    const bad = (v: unknown): string => { try { parseHostViews(v, 'f.json'); return 'accepted' } catch (e) { expect(e).toBeInstanceOf(HostViewsError); return (e as Error).message } }
    expect(bad({})).toBe('f.json: $: expected an array of hosts (or {"hosts": [...]})')
    expect(bad([{ host: 'a', capacity: { memoryMb: 'lots', vcpus: 1 } }])).toBe('f.json: [0].capacity.memoryMb: expected a non-negative number')
    expect(bad([{ host: 'a', capacity: { memoryMb: 1, vcpus: 1 }, state: 'zombie' }])).toMatch(/^f\.json: \[0\]\.state: expected one of self, alive/)
    expect(bad([{ host: 'a', capacity: { memoryMb: 1, vcpus: 1 }, images: [1] }])).toBe('f.json: [0].images: expected an array of image names')
    expect(bad([{ host: 'a', capacity: { memoryMb: 1, vcpus: 1 }, attributes: { x: [] } }])).toBe('f.json: [0].attributes: expected an object of strings, numbers and booleans')
    expect(bad([{ hostNames: [''], capacity: { memoryMb: 1, vcpus: 1 } }])).toBe('f.json: [0].hostNames: expected a non-empty array of host names (or "host")')
  })
})
