import type { EngineEvent } from '../../node/engine/types.ts'
import { eventLine, printable } from './status-format.ts'

// `deploy --wait` progress. On a terminal: one line per component, redrawn in place as states change (the cursor goes
// back up over the block and rewrites it). Elsewhere (a pipe, a CI log): one plain line per state change, the same
// lines `eventLine` always printed, so scripts that read them keep working.

const MARK: Record<string, string> = {
  deploying: '…', deployed: '·', running: '✓', terminating: '…', terminated: '■', failed: '✗'
}

interface Row { path: string, state: string, message: string }

export class DeployProgress {
  readonly #out: NodeJS.WritableStream
  readonly #tty: boolean
  readonly #rows: Row[] = []
  #drawn = 0
  #finished = false

  constructor (out: NodeJS.WritableStream & { isTTY?: boolean }, tty: boolean = out.isTTY === true) {
    this.#out = out
    this.#tty = tty
  }

  event (e: EngineEvent): void {
    if (this.#finished || e.kind !== 'state' || e.state === undefined) return
    if (!this.#tty) { this.#out.write(eventLine(e) + '\n'); return }
    let row = this.#rows.find(r => r.path === e.path)
    if (!row) { row = { path: e.path, state: e.state, message: '' }; this.#rows.push(row) }
    row.state = e.state
    row.message = e.message !== e.state ? e.message : ''
    this.#draw()
  }

  /** The block's current lines (what a terminal shows). */
  lines (): string[] {
    const width = Math.max(8, ...this.#rows.map(r => printable(r.path === '' ? '(root)' : r.path).length))
    return this.#rows.map(r => {
      const where = printable(r.path === '' ? '(root)' : r.path).padEnd(width)
      const more = r.message ? `  ${printable(r.message).slice(0, 100)}` : ''
      return `  ${MARK[r.state] ?? ' '} ${where}  ${r.state.padEnd(11)}${more}`.trimEnd()
    })
  }

  #draw (): void {
    // ESC[nF: cursor to the start of the line n lines up; ESC[2K: clear that line.
    let text = this.#drawn > 0 ? `\x1b[${this.#drawn}F` : ''
    const lines = this.lines()
    for (const l of lines) text += `\x1b[2K${l}\n`
    this.#drawn = lines.length
    this.#out.write(text)
  }

  /** Stops redrawing and prints the outcome line. */
  finish (outcome: string): void {
    if (this.#finished) return
    this.#finished = true
    this.#out.write(outcome + '\n')
  }
}
