import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

// The Debian archive this machine already uses: the first `deb` source of apt's configuration (one-line .list files
// and deb822 .sources files) that is not the security archive. Never a host written into the code.

export async function aptMirror (etcApt = '/etc/apt'): Promise<string | undefined> {
  const files = [join(etcApt, 'sources.list')]
  try {
    for (const f of (await readdir(join(etcApt, 'sources.list.d'))).sort()) {
      if (f.endsWith('.list') || f.endsWith('.sources')) files.push(join(etcApt, 'sources.list.d', f))
    }
  } catch {}
  for (const f of files) {
    let text: string
    try { text = await readFile(f, 'utf8') } catch { continue }
    const found = f.endsWith('.sources') ? fromDeb822(text) : fromOneLine(text)
    if (found != null) return found
  }
  return undefined
}

export function fromOneLine (text: string): string | undefined {
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim()
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line)
    if (m != null && !m[2].includes('security') && /^https?:\/\//.test(m[1])) return m[1]
  }
  return undefined
}

export function fromDeb822 (text: string): string | undefined {
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>()
    for (const line of stanza.split('\n')) {
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line)
      if (m != null) fields.set(m[1].toLowerCase(), m[2].trim())
    }
    if (fields.get('enabled') === 'no' || !(fields.get('types') ?? '').split(/\s+/).includes('deb')) continue
    const suites = fields.get('suites') ?? ''
    const uri = (fields.get('uris') ?? '').split(/\s+/)[0]
    if (uri !== '' && !suites.includes('security') && /^https?:\/\//.test(uri)) return uri
  }
  return undefined
}
