import { readdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { CliIO, CommandModule } from './command.ts'
import { UsageError } from './command.ts'

const commandsDir = fileURLToPath(new URL('./commands/', import.meta.url))
const NAME = /^[a-z][a-z0-9-]*$/

async function listCommands (): Promise<string[]> {
  const files = await readdir(commandsDir)
  return files.filter(f => f.endsWith('.ts') && !f.startsWith('_')).map(f => f.slice(0, -3)).sort()
}

async function loadCommand (name: string): Promise<CommandModule | undefined> {
  if (!NAME.test(name) || !(await listCommands()).includes(name)) return undefined
  return await import(`./commands/${name}.ts`) as CommandModule
}

async function help (io: CliIO): Promise<void> {
  const lines = ['usage: sdpeer COMMAND [ARGS...]   (sdpeer COMMAND --help for details)', '', 'commands:']
  for (const name of await listCommands()) {
    const mod = await loadCommand(name)
    if (mod) lines.push(`  ${name.padEnd(12)} ${mod.summary}`)
  }
  io.stdout.write(lines.join('\n') + '\n')
}

export async function main (argv: string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    await help(io)
    return name === undefined ? 2 : 0
  }
  if (name === '--version') {
    io.stdout.write('sdpeer 0.1.0\n')
    return 0
  }
  const mod = await loadCommand(name)
  if (!mod) {
    io.stderr.write(`sdpeer: unknown command ${JSON.stringify(name)}; see sdpeer --help\n`)
    return 2
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(mod.usage.trimEnd() + '\n')
    return 0
  }
  try {
    return await mod.run(rest, io)
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`sdpeer ${name}: ${(err as Error).message}\n\n${mod.usage.trimEnd()}\n`)
      return 2
    }
    throw err
  }
}

/** Runs the CLI on this process's arguments and streams; sets the exit code. */
export async function runProcess (): Promise<void> {
  const io: CliIO = { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() }
  try {
    process.exitCode = await main(process.argv.slice(2), io)
  } catch (err) {
    process.stderr.write(`sdpeer: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exitCode = 1
  }
}

if (import.meta.main) await runProcess()
