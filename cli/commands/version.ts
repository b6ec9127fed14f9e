import type { CliIO } from '../command.ts'

export const summary = 'print the sdpeer version'
export const usage = 'sdpeer version\n\nPrints the version of this sdpeer and of the Node.js running it.'

export async function run (_argv: string[], io: CliIO): Promise<number> {
  io.stdout.write(`sdpeer 0.1.0 (node ${process.version})\n`)
  return 0
}
