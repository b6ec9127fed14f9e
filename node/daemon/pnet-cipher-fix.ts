import { createRequire } from 'node:module'

// The pool key's cipher is @libp2p/pnet's XSalsa20 (the `xsalsa20` package, 1.2.0, the newest there is), whose WASM
// memory is shared by every connection of the process and capped at 64 MiB. One write larger than its first 640 KiB
// grows it, which detaches every other connection's view of it; a detached view reads as length 0, so the next
// write on each of those connections grows the memory again by its whole offset instead of what is missing. Two
// connections taking turns then grow it by every write until the cap, and the daemon dies of an uncaught
// `WebAssembly.Memory.grow(): Maximum memory size exceeded` in pnet's socket listener: a host that served an image
// to two peers went down seconds later (test/e2e/mesh-replace-image.test.ts found it). Two changes, made once per
// process before the mesh starts:
// - every update is fed to the cipher in windows of 64 KiB (it is a stream cipher that keeps its place between
//   updates, so the output is the same bytes), so the memory never needs to grow;
// - pnet never releases a connection's two 64-byte slots (it never calls `finalize`), and a new cipher's slot
//   beyond the memory fails ("offset is out of bounds"): with 640 KiB, no pnet connection opens after about 5,100
//   in the life of the process. The memory is reserved at 16 MiB at once (address space: the pages are not touched,
//   so not resident), room for about 130,000;
// - should it grow anyway, a detached view is refreshed before the size is compared, so the memory grows by what is
//   missing only.
// js-libp2p fixed both in pnet itself (libp2p/js-libp2p#3585: windowed xor, finalize on close); drop this file with
// that release.

/** Bytes the cipher is handed at once: far under its first memory (640 KiB, minus its slots). */
export const XOR_WINDOW = 64 * 1024
/** The cipher memory reserved up front: its slots, 64 bytes per cipher, two ciphers per connection. */
export const CIPHER_MEMORY = 16 * 1024 * 1024

interface CipherMemory { _memory: { length: number }, realloc: (size: number) => void }
interface XSalsa20Module {
  (nonce: Uint8Array, key: Uint8Array): { _xor: CipherMemory, update: Update, finalize: () => void }
  prototype: { update: Update }
}
type Update = (input: Uint8Array, output?: Uint8Array) => Uint8Array

const FIXED = Symbol.for('sdpeer.pnet-cipher-fix')

/** The `xsalsa20` module instance @libp2p/pnet itself loads. */
export function pnetCipherModule (): XSalsa20Module {
  return createRequire(import.meta.resolve('@libp2p/pnet'))('xsalsa20') as XSalsa20Module
}

/** Applies both changes to pnet's cipher; idempotent. */
export function fixPnetCipher (): void {
  const X = pnetCipherModule()
  const proto = X.prototype as XSalsa20Module['prototype'] & { [FIXED]?: true }
  if (proto[FIXED] === true) return
  const update = proto.update
  proto.update = function (this: unknown, input: Uint8Array, output?: Uint8Array): Uint8Array {
    if (input == null || input.length <= XOR_WINDOW) return update.call(this, input, output)
    const out = output ?? new Uint8Array(input.length)
    for (let i = 0; i < input.length; i += XOR_WINDOW) update.call(this, input.subarray(i, i + XOR_WINDOW), out.subarray(i, i + XOR_WINDOW))
    return out
  }
  // The WASM half's prototype is not exported: reach it through one throwaway cipher, whose slot goes back.
  const probe = X(new Uint8Array(24), new Uint8Array(32))
  const wasm = Object.getPrototypeOf(probe._xor) as Partial<CipherMemory>
  const realloc = wasm.realloc
  if (typeof realloc === 'function') {
    wasm.realloc = function (this: CipherMemory, size: number): void {
      // realloc grows by |size - view length| and then takes a fresh view: with the length equal to size it grows
      // by nothing and only refreshes the view.
      if (this._memory.length === 0) { this._memory = { length: size }; realloc.call(this, size) }
      if (size >= this._memory.length) realloc.call(this, size)
    }
    if (probe._xor._memory.length < CIPHER_MEMORY) wasm.realloc.call(probe._xor, CIPHER_MEMORY)
  }
  probe.finalize()
  proto[FIXED] = true
}
