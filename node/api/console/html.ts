// HTML by template strings: every value that did not come from this file goes through `esc` (attribute values,
// pool and host names, log lines are all user input). `Html` marks text that is already escaped markup.

export class Html {
  readonly text: string
  constructor (text: string) { this.text = text }
  toString (): string { return this.text }
}

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&#39;', '`': '&#96;' }

export function esc (v: unknown): string {
  return String(v).replace(/[&<>"'`]/g, c => ESC[c]!)
}

/** Tagged template: interpolations are escaped unless they are Html (or arrays of Html). */
export function html (strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1]!
  })
  return new Html(out)
}

function render (v: unknown): string {
  if (v instanceof Html) return v.text
  if (Array.isArray(v)) return v.map(render).join('')
  if (v === undefined || v === null || v === false) return ''
  return esc(v)
}

/** A link with query parameters: values are URL-encoded, then the whole href escaped for the attribute. */
export function href (path: string, params: Record<string, string> = {}): string {
  const q = new URLSearchParams(params).toString()
  return q === '' ? path : `${path}?${q}`
}

export interface PageOptions {
  title: string
  host: string
  csrf: string
  /** Which nav entry is current. */
  nav: 'pools' | 'hosts' | 'images' | ''
  body: Html
}

export function page (o: PageOptions): string {
  const item = (key: string, path: string, label: string): Html =>
    html`<a href="${path}"${new Html(o.nav === key ? ' aria-current="page"' : '')}>${label}</a>`
  return `<!doctype html>\n` + html`<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="sdpeer-csrf" content="${o.csrf}">
<title>${o.title} · sdpeer ${o.host}</title>
<link rel="stylesheet" href="/static/console.css">
<script src="/static/console.js" defer></script>
</head><body>
<header><strong>sdpeer</strong> <span class="host">${o.host}</span>
<nav>${item('pools', '/', 'Pools')} ${item('hosts', '/hosts', 'Hosts')} ${item('images', '/images', 'Images')}</nav>
<span id="live" class="live" title="live updates">○ connecting</span></header>
<main>
<h1>${o.title}</h1>
${o.body}
</main></body></html>
`.text
}
