import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import { describe, expect, it } from 'vitest'
import { fixPnetCipher, pnetCipherModule, XOR_WINDOW } from '../../node/daemon/pnet-cipher-fix.ts'

// pnet's cipher (xsalsa20 1.2.0) shares one WASM memory, capped at 64 MiB, between all connections; node/daemon/
// pnet-cipher-fix.ts keeps it from growing without bound. Each scenario runs in a child process of its own: the
// memory only grows, so one run's growth would hide the next one's.

const FIX = fileURLToPath(new URL('../../node/daemon/pnet-cipher-fix.ts', import.meta.url))

/** Two connections' ciphers: one large write, then writes taking turns; `slots` ciphers opened and never released first. */
const scenario = (fixed: boolean, o: { first: number, turns: number, size: number, slots?: number }): string => `
import { fixPnetCipher, pnetCipherModule } from ${JSON.stringify(FIX)}
${fixed ? 'fixPnetCipher()' : ''}
const X = pnetCipherModule()
for (let i = 0; i < ${o.slots ?? 0}; i++) X(new Uint8Array(24), new Uint8Array(32))
const a = X(new Uint8Array(24), new Uint8Array(32)), b = X(new Uint8Array(24), new Uint8Array(32))
let n = 0
try {
  a.update(new Uint8Array(${o.first}))
  for (; n < ${o.turns}; n++) { a.update(new Uint8Array(${o.size})); b.update(new Uint8Array(${o.size})) }
  console.log(JSON.stringify({ ok: true, n }))
} catch (err) { console.log(JSON.stringify({ ok: false, n, error: err.message })) }
`

async function run (code: string): Promise<{ ok: boolean, n: number, error?: string }> {
  const r = await execa(process.execPath, ['--input-type=module', '-e', code], { reject: false })
  expect(r.stderr).toBe('')
  return JSON.parse(r.stdout) as { ok: boolean, n: number, error?: string }
}

describe('pnet cipher memory', () => {
  it('unfixed, two connections taking turns after one large write exhaust the memory (xsalsa20 1.2.0)', async () => {
    // When this fails, the dependency was fixed: drop node/daemon/pnet-cipher-fix.ts.
    const r = await run(scenario(false, { first: 700 << 10, turns: 5000, size: 1024 }))
    expect(r).toMatchObject({ ok: false, error: 'WebAssembly.Memory.grow(): Maximum memory size exceeded' })
    expect(r.n).toBeLessThan(1000)
  })

  it('fixed, the same turns, 2 x 40 MiB taken in turns of 1 MiB, and a single 80 MiB write all go through', async () => {
    expect(await run(scenario(true, { first: 700 << 10, turns: 5000, size: 1024 }))).toEqual({ ok: true, n: 5000 })
    expect(await run(scenario(true, { first: 80 << 20, turns: 40, size: 1 << 20 }))).toEqual({ ok: true, n: 40 })
  })

  it('when the slots of ciphers never released outgrow the memory, it grows by what is missing only', async () => {
    // Unfixed the memory is 640 KiB (9,500 slots fill it); fixed, 16 MiB (262,100 do).
    const grows = { first: 60 << 10, turns: 5000, size: 1024 }
    expect(await run(scenario(false, { ...grows, slots: 9500 }))).toMatchObject({ ok: false, error: 'WebAssembly.Memory.grow(): Maximum memory size exceeded' })
    expect(await run(scenario(true, { ...grows, slots: 262_100 }))).toEqual({ ok: true, n: 5000 })
  })

  it('fixed, 30,000 ciphers never released (15,000 connections) open; unfixed, the 10,238th fails', async () => {
    const open = (fixed: boolean): string => `
import { fixPnetCipher, pnetCipherModule } from ${JSON.stringify(FIX)}
${fixed ? 'fixPnetCipher()' : ''}
const X = pnetCipherModule()
let n = 0
try { for (; n < 30000; n++) X(new Uint8Array(24), new Uint8Array(32)); console.log(JSON.stringify({ ok: true, n })) } catch (err) { console.log(JSON.stringify({ ok: false, n, error: err.message })) }
`
    expect(await run(open(false))).toEqual({ ok: false, n: 10237, error: 'offset is out of bounds' })
    expect(await run(open(true))).toEqual({ ok: true, n: 30000 })
  })

  it('fixed, a write in windows is the same ciphertext as the cipher gives in small steps, and decrypts', () => {
    fixPnetCipher()
    fixPnetCipher()
    const X = pnetCipherModule()
    const nonce = randomBytes(24)
    const key = randomBytes(32)
    const plain = randomBytes(3 * XOR_WINDOW + 12_345)
    const whole = X(nonce, key).update(plain)
    const steps = X(nonce, key)
    const parts: Uint8Array[] = []
    for (let i = 0; i < plain.length; i += 1000) parts.push(steps.update(plain.subarray(i, i + 1000)))
    expect(Buffer.from(whole).equals(Buffer.concat(parts))).toBe(true)
    expect(Buffer.from(whole).equals(plain)).toBe(false)
    expect(Buffer.from(X(nonce, key).update(whole)).equals(plain)).toBe(true)
  })
})
