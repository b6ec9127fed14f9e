import type { Stream } from '@libp2p/interface'

// A small pool of the image server's chunk buffers. A fresh 1 MiB Buffer per chunk is external memory, and V8 starts a
// mark-compact every ~64 MiB of external growth (BENCHMARKS.md, images, third round); reusing the buffers is only
// safe once nothing in the stack refers to the plaintext any more. `send` does not copy it: the bytes are copied
// exactly once, when noise encrypts them. When that has happened is established below from the code of the versions
// in package-lock.json (@libp2p/utils 7.4.1, @chainsafe/libp2p-yamux 8.0.1, @chainsafe/libp2p-noise 17.0.0,
// libp2p 3.3.11); paths are under node_modules/, "ams" = @libp2p/utils/dist/src/abstract-message-stream.js,
// "muxer" = @libp2p/utils/dist/src/abstract-stream-muxer.js.
//
// The path of the plaintext. The handler's stream is the YamuxStream itself (libp2p/dist/src/connection.js:149-188,
// no middleware registered), and yamux's muxer sits directly on noise's EncryptedMessageStream
// (libp2p/dist/src/upgrader.js:209).
//  1. stream.send(list) appends the list's buffers to the stream's writeBuffer (ams:121-128) and runs
//     processSendQueue (ams:327-405): it hands sublists (no copy) to yamux's sendData and consumes them from the
//     writeBuffer; it stops while `writableNeedsDrain` (ams:329-332).
//  2. YamuxStream.sendData (@chainsafe/libp2p-yamux/dist/src/stream.js:58-94) cuts the list at the send window, as
//     sublists (no copy), and passes each as a data frame to the muxer: sendFrame puts the 12-byte header and the
//     sublist in one Uint8ArrayList (@chainsafe/libp2p-yamux/dist/src/muxer.js:389-402), no copy, and calls muxer.send (muxer:51-60) -> noise.send.
//  3. noise's EncryptedMessageStream is an AbstractMessageStream without maxMessageSize
//     (@chainsafe/libp2p-noise/dist/src/utils.js:52-57): unless it waits for the socket to drain, its
//     processSendQueue hands its whole writeBuffer to sendData (utils.js:166-171), whose encrypt (utils.js:100-119)
//     copies every piece of at most 65,519 bytes into new ciphertext synchronously (node/mesh/noise-crypto.ts:
//     cipher.update per part; under 1,200 bytes @chainsafe/as-chacha20poly1305/lib/src/chacha20poly1305.js:38, a new
//     array), then consumes it. From there on only ciphertext travels (pnet, @libp2p/tcp).
//  So a plaintext buffer is referenced after `send` returns only from the yamux stream's writeBuffer (window
//  exhausted or the muxer saturated) or from noise's writeBuffer (noise waiting for the socket's 'drain').
//
// The safe point: at the start of a macrotask (no microtask or tick pending), the stream's status is 'open', its
// writeStatus 'writable', its writeBufferLength 0 and its writableNeedsDrain false. Then every byte passed to its
// `send` has been encrypted:
//  - writeBufferLength 0: every byte left the yamux writeBuffer through steps 1-2 (the other ways out, abort (ams:
//    133-161) and onRemoteCloseRead (ams:318-326, which yamux never calls), would not leave the status 'open').
//  - Noise keeps a frame unencrypted only when noise.send returns false; muxer.send then sets writableNeedsDrain on
//    every stream of the muxer (muxer:53-57; an open stream is in `streams` until its 'close', muxer:112-145). Our
//    flag is cleared only by a 'drain' on our stream (ams:53-68): either a window update, dispatched only while our
//    writeBuffer holds bytes (yamux stream.js:157-160), whose processSendQueue microtask then sends them into noise
//    (noise.send false sets the flag again; true means noise's FIFO writeBuffer, ours included, was encrypted); or
//    the muxer's drain (muxer:38-44), which is noise's 'drain' (utils.js:91-94): noise's own listener, added in its
//    constructor before the muxer's, clears noise's flag and queues the processSendQueue that encrypts its whole
//    writeBuffer (ams:53-68) before our flag is cleared. At a quiescent moment that microtask has run; had it
//    failed, noise's close would have closed our stream (muxer:45-49, 81-92: status no longer 'open').
//  Why not a later, simpler event: `await stream.close()` also resolves after an abort (abort emits 'idle' before
//  'close', ams:144-146 and 160; abstract-stream.js:18-26 waits for 'idle') and returns at once when the transport
//  closed first (abstract-stream.js:12), while noise's writeBuffer, which onTransportClosed (ams:273-299) does not
//  clear, may still hold our plaintext; a 'close' event without error comes from a graceful connection close
//  (muxer:81-92) in the same state; and the remote's close (FIN) is the remote's word, which a hostile peer sends
//  before reading anything. The check is repeated after each send and each drain; buffers of a stream that fails,
//  is reset or aborted are never given back (the garbage collector takes them).

/** True when every byte sent on `stream` has been encrypted (see above); evaluated at the start of a macrotask. */
export async function sentBytesEncrypted (stream: Stream): Promise<boolean> {
  return await new Promise(resolve => {
    setImmediate(() => {
      resolve(stream.status === 'open' && stream.writeStatus === 'writable' && stream.writeBufferLength === 0 && !stream.writableNeedsDrain)
    })
  })
}

export interface ChunkPoolOptions {
  /** Bytes of each buffer (the chunk size). */
  size: number
  /** Free buffers kept at most; more in use at once are allocated and left to the garbage collector. */
  max: number
  /** Free buffers are dropped after this long without a `take`. */
  idleMs: number
}

export interface ChunkPoolStats { taken: number, reused: number, returned: number, kept: number }

/**
 * Buffers of one size. `take` lends one (a view of `len` bytes); `give` takes back a view `take` lent, once the
 * caller has proven nothing refers to it. A view given twice, or one this pool did not lend, is refused (false).
 */
export class ChunkPool {
  readonly #o: ChunkPoolOptions
  readonly #free: ArrayBuffer[] = []
  /** Weak: a lent buffer that is never given back (its stream failed) must stay collectable. */
  readonly #lent = new WeakSet<ArrayBuffer>()
  #lastTake = 0
  #timer: NodeJS.Timeout | undefined
  readonly stats: ChunkPoolStats = { taken: 0, reused: 0, returned: 0, kept: 0 }

  constructor (options: ChunkPoolOptions) {
    this.#o = options
  }

  /** A buffer of `len` bytes (at most `size`), contents undefined. */
  take (len: number): Buffer {
    if (len > this.#o.size) return Buffer.allocUnsafe(len)
    this.#lastTake = performance.now()
    this.stats.taken++
    let ab = this.#free.pop()
    if (ab !== undefined) this.stats.reused++
    // Its own ArrayBuffer (allocUnsafe may slice node's shared pool for small sizes): `give` finds it by it.
    else ab = Buffer.allocUnsafeSlow(this.#o.size).buffer as ArrayBuffer
    this.#lent.add(ab)
    this.stats.kept = this.#free.length
    return Buffer.from(ab, 0, len)
  }

  give (view: Uint8Array): boolean {
    const ab = view.buffer as ArrayBuffer
    if (!this.#lent.has(ab)) return false
    this.#lent.delete(ab)
    this.stats.returned++
    if (this.#free.length < this.#o.max) this.#free.push(ab)
    this.stats.kept = this.#free.length
    this.#arm()
    return true
  }

  /** Drops the free buffers (the lent ones go to the garbage collector when their holders let go). */
  clear (): void {
    this.#free.length = 0
    this.stats.kept = 0
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #arm (): void {
    if (this.#timer !== undefined || this.#free.length === 0) return
    const wait = Math.max(1, this.#o.idleMs - (performance.now() - this.#lastTake))
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      if (performance.now() - this.#lastTake >= this.#o.idleMs) this.clear()
      else this.#arm()
    }, wait)
    this.#timer.unref()
  }
}
