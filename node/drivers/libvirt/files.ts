import { open, rename } from 'node:fs/promises'

/** Temp file, fsync, rename: a crash never leaves a half-written domain config for xl or a restarted daemon. */
export async function writeFileAtomic (path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  const fh = await open(tmp, 'w', 0o600)
  try {
    await fh.writeFile(text)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
}
