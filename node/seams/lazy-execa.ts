// execa, loaded the first time a command runs: a daemon that has run none (an idle host, a host of sim VMs without
// storage) does not carry it (~3 MiB of heap and its share of RSS; BENCHMARKS.md, mesh memory).

type Execa = typeof import('execa')['execa']

let loading: Promise<Execa> | undefined

export async function loadExeca (): Promise<Execa> {
  loading ??= import('execa').then(m => m.execa)
  return await loading
}
