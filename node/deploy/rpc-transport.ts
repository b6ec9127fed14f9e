import type { Rpc, RpcProtocolSpec } from '../mesh/rpc.ts'
import { RpcError } from '../mesh/errors.ts'
import { DeployTransportError } from './errors.ts'
import type { DeployHandler, DeployRequest, DeployResponse, DeployTransport } from './types.ts'
import { DEPLOY_PROTOCOL, MAX_DEPLOY_MESSAGE_BYTES, decodeDeployRequest, decodeDeployResponse, encodeDeployMessage } from './wire.ts'

// The deploy transport over the mesh's request/response streams: one libp2p stream per request, validated both
// ways. RpcError codes map onto the three the cores know: no answer in time, could not reach, or answered wrong.

export const deployProtocol: RpcProtocolSpec<DeployRequest, DeployResponse> = {
  id: DEPLOY_PROTOCOL,
  request: { maxBytes: MAX_DEPLOY_MESSAGE_BYTES, encode: encodeDeployMessage, decode: decodeDeployRequest },
  response: { maxBytes: MAX_DEPLOY_MESSAGE_BYTES, encode: encodeDeployMessage, decode: decodeDeployResponse }
}

export function rpcDeployTransport (rpc: Pick<Rpc, 'request'>): DeployTransport {
  return {
    async request (peer, req, o) {
      try {
        return await rpc.request(peer, deployProtocol, req, { timeoutMs: o.timeoutMs, ...(o.signal !== undefined ? { signal: o.signal } : {}) })
      } catch (err) {
        if (!(err instanceof RpcError)) throw new DeployTransportError(peer, 'unreachable', (err as Error).message, { cause: err })
        const code = err.code === 'timeout' ? 'timeout' : err.code === 'dial' || err.code === 'closed' ? 'unreachable' : 'remote-error'
        throw new DeployTransportError(peer, code, err.message, { cause: err })
      }
    }
  }
}

/** Serves deploy requests with `handler`. The Rpc's own handler timeout must exceed DeployTimings.longPollMs. */
export async function serveDeploy (rpc: Pick<Rpc, 'handle'>, handler: DeployHandler): Promise<void> {
  await rpc.handle(deployProtocol, async (req, ctx) => await handler(ctx.peer, req))
}
