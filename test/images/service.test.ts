import { describe, expect, it } from 'vitest'
import { announcementEntries, ImageService, imageRefsOf, MAX_ANNOUNCED_IMAGES } from '../../node/images/service.ts'
import type { ImageServiceInit } from '../../node/images/service.ts'
import type { ImageRecord } from '../../node/images/warehouse.ts'

// The image service's announcement entries and the order in which it asks peers (no network: the mesh node is a
// stand-in answering hosts(); the transfers themselves are tested over real libp2p in transfer.test.ts).

const id = (n: number): string => n.toString(16).padStart(64, '0')
const rec = (n: number, names: string[], createdAt: string): ImageRecord => ({
  v: 1, id: id(n), format: 'raw', sha256: id(n), size: 1, chunkSize: 4096, manifestRoot: id(n), names, params: null, source: 'import', createdAt
})

describe('announced images', () => {
  it('lists names then ids, newest image first, bounded; the scheduler reads them back as image: refs', () => {
    const entries = announcementEntries([rec(1, ['old'], '2026-01-01T00:00:00Z'), rec(2, ['new', 'newest-alias'], '2026-06-01T00:00:00Z')])
    expect(entries).toEqual(['new', 'newest-alias', id(2), 'old', id(1)])
    expect(imageRefsOf({ images: entries })).toEqual(['image:new', 'image:newest-alias', `image:${id(2)}`, 'image:old', `image:${id(1)}`])
    expect(imageRefsOf({})).toEqual([])
    const many = Array.from({ length: 40 }, (_, i) => rec(i + 1, [`img${i}`], `2026-01-${String(i % 28 + 1).padStart(2, '0')}T00:00:00Z`))
    expect(announcementEntries(many)).toHaveLength(MAX_ANNOUNCED_IMAGES)
  })

  it('asks the live peers that announce the image first (by name, id or id prefix), then the other live peers', () => {
    const views = [
      { peerId: 'P1', state: 'alive', images: ['other'] },
      { peerId: 'P2', state: 'alive', images: ['slc', id(7)] },
      { peerId: 'P3', state: 'dead', images: ['slc'] },
      { peerId: 'P4', state: 'alive' },
      { peerId: 'SELF', state: 'self', images: ['slc'] }
    ]
    const node = { rpc: {}, libp2p: {}, peerId: 'SELF', hosts: () => views } as unknown as ImageServiceInit['node']
    const s = new ImageService({ node, stateDir: '/nonexistent' })
    expect(s.candidates('image:slc')).toEqual(['P2', 'P1', 'P4'])
    expect(s.candidates(`image:${id(7)}`)).toEqual(['P2', 'P1', 'P4'])
    expect(s.candidates(`image:${id(7).slice(0, 12)}`)).toEqual(['P2', 'P1', 'P4'])
    expect(s.candidates('image:nobody-has-it')).toEqual(['P1', 'P2', 'P4'])
    const explicit = new ImageService({ node, stateDir: '/nonexistent', holders: () => ['P4', 'P3'] })
    expect(explicit.candidates('image:slc')).toEqual(['P4', 'P1', 'P2'])
  })
})
