import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { run as image } from '../../cli/commands/image.ts'

let dir: string
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'sdpeer-image-cli-')) })
afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

async function cli (...argv: string[]): Promise<{ code: number, out: string, err: string }> {
  let out = ''
  let err = ''
  const sink = (add: (s: string) => void): Writable => new Writable({ write (c, _e, cb) { add(String(c)); cb() } })
  const code = await image(argv, { stdout: sink(s => { out += s }), stderr: sink(s => { err += s }), env: { SDPEER_API: join(dir, 'state', 'api.sock') }, cwd: dir })
  return { code, out, err }
}

describe('sdpeer image', () => {
  it('imports, lists (table and JSON), exports and removes, finding the warehouse from the daemon socket', async () => {
    const data = randomBytes(200_000)
    await writeFile(join(dir, 'disk.qcow2'), Buffer.concat([Buffer.from([0x51, 0x46, 0x49, 0xfb]), data]))
    const imp = await cli('import', 'disk.qcow2', '--name', 'my-disk')
    expect(imp.code).toBe(0)
    const id = imp.out.trim()
    expect(id).toMatch(/^[0-9a-f]{64}$/)
    const table = (await cli('ls')).out.split('\n')
    expect(table[0]).toMatch(/^ID\s+FORMAT\s+SIZE\s+SOURCE\s+CREATED\s+NAMES$/)
    expect(table[1]).toMatch(new RegExp(`^${id.slice(0, 12)}\\s+qcow2\\s+195\\.3 KiB\\s+import\\s+\\S+ \\S+\\s+my-disk$`))
    const json = JSON.parse((await cli('ls', '--json')).out)
    expect(json).toEqual([expect.objectContaining({ id, format: 'qcow2', names: ['my-disk'], size: data.length + 4 })])
    expect((await cli('export', 'my-disk', 'copy.qcow2')).code).toBe(0)
    expect(createHash('sha256').update(await readFile(join(dir, 'copy.qcow2'))).digest('hex')).toBe(json[0].sha256)
    expect((await cli('rm', id.slice(0, 12))).out).toBe(`removed ${id}\n`)
    const gone = await cli('export', 'my-disk', 'again.qcow2')
    expect(gone.code).toBe(1)
    expect(gone.err).toContain('ImageNotFoundError')
  })

  it('refuses wrong usage', async () => {
    await expect(cli('build', '--distro', 'debian')).rejects.toMatchObject({ name: 'UsageError' })
    await expect(cli('build', '--distro', 'debian', '--suite', 'bookworm', '--format', 'vmdk')).rejects.toMatchObject({ name: 'UsageError' })
    await expect(cli('frobnicate')).rejects.toMatchObject({ name: 'UsageError' })
    const bad = await cli('build', '--distro', 'debian', '--suite', 'bookworm', '--format', 'raw', '--packages', 'x;y', '--mirror', 'http://m.invalid/debian')
    expect(bad.code).toBe(1)
    expect(bad.err).toContain('ImageParamsError: packages')
  })
})
