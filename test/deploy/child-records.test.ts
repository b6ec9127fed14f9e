import { describe, expect, it } from 'vitest'
import { childStatus, holderOf, mergeChildStatuses, REMOTE_CHILD_TYPE } from '../../node/deploy/child-records.ts'
import { splitPool } from '../../node/deploy/split.ts'
import type { ComponentStatus } from '../../node/engine/types.ts'

// Which component holds a remote child (and shares its fate), read from the part's own description; the status line
// a parent's part gives an ended remote child, and how it merges with the child owner's own line.

const compound = 'org.smartfrog.sfcore.compound.CompoundImpl'
const plan = splitPool({
  sfClass: compound,
  sfSyncTerminate: true,
  top: { sfClass: compound, sfProcessHost: 'h1' },
  group: {
    sfClass: compound,
    sfSyncTerminate: 'true',
    plain: { sfClass: compound, inner: { sfClass: compound, sfProcessHost: 'h2' } },
    deep: { sfClass: compound, sfProcessHost: 'h1', sfSyncTerminate: false, leaf: { sfClass: compound, sfProcessHost: 'h2' } }
  }
}, { pool: 'p', entryPeer: 'E', entryHost: 'entry', resolveHost: h => ({ h1: 'P1', h2: 'P2', entry: 'E' } as Record<string, string>)[h] })
const part = (path: string) => plan.parts.find(p => p.path === path)!

describe('holderOf', () => {
  it.each([
    ['', 'top', { path: '', sync: true }],
    ['', 'group:deep', { path: 'group', sync: true }],
    ['', 'group:plain:inner', { path: 'group:plain', sync: false }],
    ['group:deep', 'group:deep:leaf', { path: 'group:deep', sync: false }],
    ['', 'nowhere:x', { path: 'nowhere', sync: false }]
  ])('part %j, child %s', (partPath, child, want) => {
    expect(holderOf(part(partPath), child)).toEqual(want)
  })
})

describe('status lines of ended remote children', () => {
  it('the origin of an abnormal end is failed, a child ended from below is terminated; the reason kept', () => {
    expect(childStatus('a', { host: 'h1', record: { type: 'abnormal', reason: 'host h1 lost (peer P1)', path: 'a' } }))
      .toEqual({ path: 'a', type: REMOTE_CHILD_TYPE, host: 'h1', state: 'failed', reason: 'host h1 lost (peer P1)' })
    expect(childStatus('a', { host: 'h1', record: { type: 'abnormal', reason: 'domain died', path: 'a:d' } }).state).toBe('terminated')
    expect(childStatus('a', { host: 'h1', record: { type: 'normal', reason: 'done', path: 'a' } })).toMatchObject({ state: 'terminated', reason: 'done' })
  })

  it('one line per path: the owner\'s (real type), with the parent\'s state and, lacking its own, reason', () => {
    const rec = childStatus('a', { host: 'h1', record: { type: 'abnormal', reason: 'died', path: 'a' } })
    const own: ComponentStatus = { path: 'a', type: 'XenDomain', host: 'h1', state: 'terminated' }
    const other: ComponentStatus = { path: 'b', type: 'Compound', host: 'h2', state: 'running' }
    expect(mergeChildStatuses([own, other, rec])).toEqual([{ ...own, state: 'failed', reason: 'died' }, other])
    expect(mergeChildStatuses([rec, own])).toEqual([{ ...own, state: 'failed', reason: 'died' }])
    expect(mergeChildStatuses([rec])).toEqual([rec])
  })
})
