import { fixPnetCipher, pnetCipherModule } from '../../node/daemon/pnet-cipher-fix.ts'

// What node/daemon/pnet-cipher-fix.ts costs: the pool key's cipher (xsalsa20, pnet's) over SIZE MiB in writes of
// WRITE KiB on one connection, as pnet calls it, before and after the fix (64 KiB windows), in one process. One
// connection only: the unfixed cipher would die of two taking turns (test/daemon/pnet-cipher-fix.test.ts).
//   npx node simulations/bench/pnet-cipher.ts [SIZE_MIB=1024] [WRITE_KIB=1024] [RUNS=3]

const sizeMiB = Number(process.argv[2] ?? 1024)
const writeKiB = Number(process.argv[3] ?? 1024)
const runs = Number(process.argv[4] ?? 3)
const X = pnetCipherModule()
const input = new Uint8Array(writeKiB * 1024)
const output = new Uint8Array(input.length)

function measure (label: string): void {
  const cipher = X(new Uint8Array(24), new Uint8Array(32))
  const n = Math.ceil(sizeMiB * 1024 / writeKiB)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < n; i++) cipher.update(input, output)
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  const cpuS = (cpu.user + cpu.system) / 1e6
  console.log(`${label}: ${sizeMiB} MiB in ${writeKiB} KiB writes: ${ms.toFixed(0)} ms wall, ${cpuS.toFixed(2)} CPU-s, ${(sizeMiB / cpuS).toFixed(0)} MiB per CPU-s`)
}

for (let r = 0; r < runs; r++) measure(`run ${r} unfixed`)
fixPnetCipher()
for (let r = 0; r < runs; r++) measure(`run ${r} fixed  `)
