import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { run as image } from '../../cli/commands/image.ts'
import { buildImage } from '../../node/images/builder.ts'
import { imageIdOf, normaliseBuild } from '../../node/images/params.ts'
import { Warehouse } from '../../node/images/warehouse.ts'

// Time of a cached build: `sdpeer image build` of parameters whose id the warehouse already holds. The image is put
// in place by import under the id the parameters give (no debootstrap needed), with a handful of other images
// beside it, then the build is timed N times through the builder and through the CLI command (in process), and
// once as a whole `sdpeer` process. Goal: under 1 s.
//   npx node simulations/bench/image-cached-build.ts [RUNS=20]

const runs = Number(process.argv[2] ?? 20)
const stateDir = await mkdtemp(join(tmpdir(), 'sdpeer-bench-cached-'))
try {
  const w = new Warehouse(stateDir)
  const req = { distro: 'debian', suite: 'bookworm', variant: 'minbase', packages: ['openssh-server', 'curl'], format: 'raw' as const, sizeBytes: 64 * 1024 * 1024 }
  const params = await normaliseBuild(req)
  const file = join(stateDir, 'disk.raw')
  await writeFile(file, Buffer.alloc(64 * 1024 * 1024, 1))
  await w.add(imageIdOf(params), file, { format: 'raw', params, source: 'build', names: ['bench'] })
  for (let i = 0; i < 20; i++) { await writeFile(file, `other ${i}`); await w.importFile(file, { name: `other-${i}` }) }

  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const r = await buildImage(req, { stateDir, mirror: 'http://unused.invalid/debian' })
    if (!r.cached) throw new Error('expected a cached build')
    times.push(r.durationMs)
  }
  const cli: number[] = []
  const sink = new Writable({ write (_c, _e, cb) { cb() } })
  const args = ['build', '--distro', 'debian', '--suite', 'bookworm', '--packages', 'curl,openssh-server', '--format', 'raw', '--size', '64M', '--state-dir', stateDir, '--mirror', 'http://unused.invalid/debian']
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    if (await image(args, { stdout: sink, stderr: sink, env: {}, cwd: process.cwd() }) !== 0) throw new Error('cli build failed')
    cli.push(performance.now() - t0)
  }
  const { execa } = await import('execa')
  const t0 = performance.now()
  await execa('npx', ['node', join(import.meta.dirname, '../../cli/sdpeer.js'), 'image', ...args])
  const proc = performance.now() - t0
  const stats = (xs: number[]): string => { const s = [...xs].sort((a, b) => a - b); return `p50 ${s[Math.floor(s.length / 2)].toFixed(1)} ms, max ${s[s.length - 1].toFixed(1)} ms` }
  console.log(`cached build, builder call (${runs} runs): ${stats(times)}`)
  console.log(`cached build, CLI command in process:     ${stats(cli)}`)
  console.log(`cached build, whole \`npx node cli/sdpeer.js image build\` process: ${proc.toFixed(0)} ms (goal < 1000 ms)`)
} finally {
  await rm(stateDir, { recursive: true, force: true })
}
