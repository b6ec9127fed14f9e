// Command-line knobs shared by the scheduler benchmarks: --seed N --hosts N --deployers N ... (numbers only).

export function numArgs<T extends Record<string, number>> (defaults: T, argv = process.argv.slice(2)): T {
  const out: Record<string, number> = { ...defaults }
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-zA-Z]+)(?:=(.*))?$/.exec(argv[i])
    if (!m || !(m[1] in defaults)) throw new Error(`unknown option ${argv[i]}; known: ${Object.keys(defaults).map(k => `--${k}`).join(' ')}`)
    const v = Number(m[2] ?? argv[++i])
    if (!Number.isFinite(v)) throw new Error(`--${m[1]} wants a number`)
    out[m[1]] = v
  }
  return out as T
}

export const pct = (x: number): string => `${(100 * x).toFixed(2)}%`
