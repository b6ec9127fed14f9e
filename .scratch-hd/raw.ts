import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { execa } from 'execa'
import { peerIdFromString } from '@libp2p/peer-id'
import { createMeshNode } from '../node/mesh/node.ts'
const bytes = Number(process.argv[2] ?? 1024) * 1024 * 1024
const base = await mkdtemp(join(tmpdir(), 'rawb-'))
const prof = process.env.PROF
const serving = execa(process.execPath, [...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []), ...(process.env.SFLAGS ? process.env.SFLAGS.split(' ') : []), '/work/main/simulations/bench/image-serve.ts', join(base, 'a'), String(bytes)], { stdin: 'pipe', stdout: 'pipe', stderr: 'inherit', buffer: false })
const first = await new Promise<string>((resolve) => { createInterface({ input: serving.stdout! }).once('line', resolve) })
const { peerId, addr } = JSON.parse(first)
const b = await createMeshNode({ host: 'b.bench', stateDir: join(base, 'b'), bootstrap: [addr] })
await b.start()
for (let r = 0; r < 3; r++) {
const f0 = (await (await import('node:fs/promises')).readFile(`/proc/${serving.pid}/stat`, 'utf8')).split(') ')[1].split(' ')
const sc0 = (Number(f0[11]) + Number(f0[12])) / 100
const c0 = process.cpuUsage(); const t0 = performance.now()
const raw = await b.libp2p.dialProtocol(peerIdFromString(peerId), '/sdpeer/bench-raw/1')
let n = 0
for await (const c of raw) n += c.byteLength
const c = process.cpuUsage(c0)
const f = (await (await import('node:fs/promises')).readFile(`/proc/${serving.pid}/stat`, 'utf8')).split(') ')[1].split(' ')
const sc = (Number(f[11]) + Number(f[12])) / 100
console.log(`raw ${n} bytes ${(performance.now() - t0).toFixed(0)} ms recv cpu ${((c.user + c.system) / 1e6).toFixed(2)} s send cpu ${(sc - sc0).toFixed(2)} s ${process.env.XX_NOISE_DEFAULT ? 'default' : 'native'}`)
}
await b.stop(); serving.stdin!.end(); await serving
