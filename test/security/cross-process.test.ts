import { describe, expect, it } from 'vitest'
import { execa } from 'execa'
import { fileURLToPath } from 'node:url'
import { ReplayCache, proveSubtree, verifySubtreeRequest } from '../../protocol/auth/index.ts'
import { apiRequestBody, verifyApiRequest } from '../../node/security/request-auth.ts'

// Signer and verifier in different processes must agree on the canonical bytes: the child signs, we verify.

describe('signatures across processes', () => {
  it('a request signed in a child process verifies here, whole and as a forwarded subtree', async () => {
    const script = fileURLToPath(new URL('./fixtures/sign-child.ts', import.meta.url))
    const { stdout } = await execa(process.execPath, [script], { timeout: 20_000 })
    const { publicText, request } = JSON.parse(stdout)
    const trust = { lookup: (k: string) => k === publicText ? { key: k, role: 'operator' as const, pools: ['web'] } : undefined }
    const reordered = { wait: request.wait, config: { alpha: request.config.alpha, zeta: request.config.zeta }, pool: request.pool, op: request.op, id: request.id, auth: request.auth }
    expect(verifyApiRequest(reordered, trust, new ReplayCache(), Date.now())?.operator).toBe(publicText)
    const { subtree, proof } = proveSubtree(apiRequestBody(reordered), ['config', 'zeta'])
    expect(verifySubtreeRequest(request.auth, subtree, proof, trust, new ReplayCache(), Date.now()).pool).toBe('web')
  })
})
