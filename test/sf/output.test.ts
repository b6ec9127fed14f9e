import { readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { checkFile } from '../../node/sf/index.ts'
import { printConfig, writeConfig } from '../../node/sf/print.ts'
import { cdToJson, writeJson } from '../../node/sf/to-json.ts'

// `sdpeer check` streams its output (writeJson, writeConfig) instead of building it: the streamed text must be
// exactly what the whole-tree functions give, for every example and resolver fixture that resolves.

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url))
const FIXTURES = fileURLToPath(new URL('../fixtures/sf/resolve/', import.meta.url))
const REPO = fileURLToPath(new URL('../../', import.meta.url))

function sfFiles (dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter(f => f.endsWith('.sf')).map(f => join(dir, f)).sort()
}

describe('streamed output', () => {
  const files = [...sfFiles(EXAMPLES), ...sfFiles(FIXTURES)]
  let compared = 0
  for (const f of files) {
    it(relative(REPO, f), () => {
      const r = checkFile(f, { cwd: join(f, '..'), env: {}, json: false })
      const config = r.resolved?.config
      if (config === undefined || r.diagnostics.some(d => d.severity === 'error')) return // an error fixture
      compared++
      let json = ''
      writeJson(config, s => { json += s })
      expect(json).toBe(JSON.stringify(cdToJson(config), null, 2) + '\n')
      let sf = ''
      writeConfig(config, s => { sf += s })
      expect(sf).toBe(printConfig(config))
    })
  }

  it('compared at least 10 resolved trees', () => { expect(compared).toBeGreaterThanOrEqual(10) })

  it('writes a big tree in bounded chunks', () => {
    const r = checkFile(join(EXAMPLES, 'tutorial/distVirtualPool.sf'), { cwd: join(EXAMPLES, 'tutorial'), env: {}, json: false })
    const chunks: string[] = []
    writeConfig(r.resolved!.config!, s => { chunks.push(s) })
    expect(chunks.join('')).toBe(printConfig(r.resolved!.config!))
    for (const c of chunks) expect(c.length).toBeLessThan(65536 * 2)
  })
})
