import { createHash, randomBytes } from 'node:crypto'
import { newInstance, ChaCha20Poly1305 } from '@chainsafe/as-chacha20poly1305'
const b = randomBytes(1 << 20)
let c0 = process.cpuUsage(); const h = createHash('sha256'); for (let i = 0; i < 1024; i++) h.update(b); h.digest()
let c = process.cpuUsage(c0); console.log('sha256 1GiB cpu', ((c.user + c.system) / 1e6).toFixed(2))
const as = new ChaCha20Poly1305(newInstance())
const key = randomBytes(32), nonce = Buffer.alloc(12), ad = new Uint8Array(0)
const msg = randomBytes(65519)
const sealed = as.seal(key, nonce, msg, ad)
c0 = process.cpuUsage(); for (let i = 0; i < 16384; i++) { const ct = Buffer.from(sealed); as.open(key, nonce, ct, ad, ct.subarray(0, ct.length - 16)) }
c = process.cpuUsage(c0); console.log('as open 1GiB (in place) cpu', ((c.user + c.system) / 1e6).toFixed(2))
