import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { ApiRequestError, parseRequest, requestIdOf } from '../../node/api/messages.ts'

function refused (raw: unknown): ApiRequestError {
  try {
    parseRequest(raw)
  } catch (err) {
    expect(err).toBeInstanceOf(ApiRequestError)
    return err as ApiRequestError
  }
  throw new Error(`accepted ${JSON.stringify(raw)}`)
}

describe('control API requests', () => {
  it('accepts well-formed requests and fills defaults', () => {
    expect(parseRequest({ id: 1, op: 'ping' })).toEqual({ id: 1, op: 'ping' })
    expect(parseRequest({ id: 2, op: 'deploy', pool: 'web', config: { a: 1 } })).toEqual({ id: 2, op: 'deploy', pool: 'web', config: { a: 1 }, wait: false })
    expect(parseRequest({ id: 3, op: 'terminate', pool: 'web' })).toEqual({ id: 3, op: 'terminate', pool: 'web', type: 'normal' })
    expect(parseRequest({ id: 'a-1', op: 'get', pool: 'web', path: 'computer1:domain1', attr: 'memory' }))
      .toEqual({ id: 'a-1', op: 'get', pool: 'web', path: 'computer1:domain1', attr: 'memory' })
    expect(parseRequest({ id: 4, op: 'set', pool: 'p', path: '', attr: 'x', value: null }).op).toBe('set')
    expect(parseRequest({ id: 5, op: 'logs', pool: 'p', path: 'a', follow: true })).toMatchObject({ follow: true })
  })

  it('accepts the mesh requests: hosts, ls, status --local, deploy --at', () => {
    expect(parseRequest({ id: 6, op: 'hosts' })).toEqual({ id: 6, op: 'hosts' })
    expect(parseRequest({ id: 7, op: 'ls', extra: 1 })).toEqual({ id: 7, op: 'ls' })
    expect(parseRequest({ id: 8, op: 'status', local: true })).toEqual({ id: 8, op: 'status', local: true })
    expect(parseRequest({ id: 9, op: 'status', pool: 'p', local: false })).toEqual({ id: 9, op: 'status', pool: 'p' })
    expect(parseRequest({ id: 10, op: 'deploy', pool: 'p', config: {}, at: 'machine9.cern.ch' })).toMatchObject({ at: 'machine9.cern.ch' })
    expect(refused({ id: 1, op: 'status', local: 'yes' }).field).toBe('local')
    expect(refused({ id: 1, op: 'deploy', pool: 'p', config: {}, at: 'a b' }).field).toBe('at')
    expect(refused({ id: 1, op: 'deploy', pool: 'p', config: {}, at: 42 }).field).toBe('at')
  })

  it('names the wrong field', () => {
    expect(refused({ op: 'ping' }).field).toBe('id')
    expect(refused({ id: -1, op: 'ping' }).field).toBe('id')
    expect(refused({ id: 1 }).field).toBe('op')
    expect(refused({ id: 1, op: 'rm -rf' }).field).toBe('op')
    expect(refused({ id: 1, op: 'deploy', pool: '../etc', config: {} }).field).toBe('pool')
    expect(refused({ id: 1, op: 'deploy', pool: 'p', config: [] }).field).toBe('config')
    expect(refused({ id: 1, op: 'deploy', pool: 'p', config: {}, wait: 'yes' }).field).toBe('wait')
    expect(refused({ id: 1, op: 'terminate', pool: 'p', type: 'hard' }).field).toBe('type')
    expect(refused({ id: 1, op: 'get', pool: 'p', path: 'a;b' }).field).toBe('path')
    expect(refused({ id: 1, op: 'get', pool: 'p', path: 'a::b' }).field).toBe('path')
    expect(refused({ id: 1, op: 'set', pool: 'p', path: 'a', attr: 'x' }).field).toBe('value')
    expect(refused({ id: 1, op: 'set', pool: 'p', path: 'a', attr: '$ref', value: 1 }).field).toBe('attr')
    expect(refused({ id: 1, op: 'ping', auth: 'sig' }).field).toBe('auth')
  })

  it('refuses prototype keys and values nested beyond the bound without recursing', () => {
    const proto = JSON.parse('{"id":1,"op":"deploy","pool":"p","config":{"a":{"__proto__":{"polluted":true}}}}')
    expect(refused(proto).message).toContain('__proto__')
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    // 200,000 nested arrays: JSON.parse builds it; a recursive checker would overflow the stack.
    const deep = JSON.parse(`{"id":1,"op":"set","pool":"p","path":"a","attr":"x","value":${'['.repeat(200_000)}${']'.repeat(200_000)}}`)
    expect(refused(deep).message).toContain('deeper')
  })

  it('names the op field when op is not a string (fuzz counterexample: an object with its own toString)', () => {
    const frame = JSON.parse('{"id":3,"op":[{"toString":""}],"pool":"web"}')
    expect(() => parseRequest(frame)).toThrow(ApiRequestError)
  })

  it('never throws anything but ApiRequestError on arbitrary input (property)', () => {
    const ops = fc.constantFrom('ping', 'deploy', 'terminate', 'status', 'get', 'set', 'logs', 'events', 'cancel', 'nope')
    const req = fc.record({ id: fc.oneof(fc.nat(), fc.string(), fc.jsonValue()), op: ops, pool: fc.oneof(fc.string(), fc.jsonValue()), path: fc.oneof(fc.string(), fc.jsonValue()), attr: fc.jsonValue(), value: fc.jsonValue(), config: fc.jsonValue(), wait: fc.jsonValue(), type: fc.jsonValue(), target: fc.jsonValue() }, { requiredKeys: [] })
    fc.assert(fc.property(fc.oneof(req, fc.jsonValue()), raw => {
      try {
        const r = parseRequest(raw)
        expect(typeof r.op).toBe('string')
      } catch (err) {
        expect(err).toBeInstanceOf(ApiRequestError)
      }
      requestIdOf(raw)
    }), { numRuns: 2000 })
  })
})
