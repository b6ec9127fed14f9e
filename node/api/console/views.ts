import type { ComponentStatus, PoolStatus } from '../../engine/types.ts'
import type { SfJson } from '../../sf/sfjson.ts'
import type { HostView, ImageView } from './providers.ts'
import { Html, href, html } from './html.ts'
import { sfText } from './sf-text.ts'

// The console's views, server-rendered. Elements that change live carry data-pool / data-path; console.js finds
// them by comparing those attributes (never by building a selector from a name).

export function stateBadge (pool: string, path: string, state: string): Html {
  return html`<span class="state s-${state}" data-pool="${pool}" data-path="${path}">${state}</span>`
}

function componentLink (pool: string, path: string, label?: string): Html {
  return html`<a href="${href('/component', { pool, path })}">${label ?? (path === '' ? '(root)' : path.split(':').pop()!)}</a>`
}

export function poolsView (pools: PoolStatus[]): Html {
  if (pools.length === 0) {
    return html`<p class="empty">No pools on this host. Deploy one with <code>sdpeer deploy FILE --name POOL</code>.</p>
<table class="list pools" hidden><thead><tr><th>Pool</th><th>State</th><th>Components</th><th>Running</th></tr></thead><tbody></tbody></table>`
  }
  return html`<table class="list pools"><thead><tr><th>Pool</th><th>State</th><th>Components</th><th>Running</th></tr></thead><tbody>
${pools.map(p => html`<tr><td><a class="pool-link" href="${href('/pool', { name: p.pool })}">${p.pool}</a></td><td>${stateBadge(p.pool, '', p.state)}</td>
<td>${p.components.length}</td><td>${p.components.filter(c => c.state === 'running').length}</td></tr>`)}
</tbody></table>`
}

function isObject (v: SfJson): v is Record<string, SfJson> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Attributes of a component that are values, not child components (those are in the tree). */
export function plainAttributes (all: SfJson, path: string, paths: Set<string>): Array<[string, SfJson]> {
  if (!isObject(all)) return []
  return Object.entries(all).filter(([k]) => !k.startsWith('$') && !paths.has(path === '' ? k : `${path}:${k}`))
}

export type AttributeReader = (path: string) => SfJson | undefined

export function poolTreeView (p: PoolStatus, read: AttributeReader): Html {
  const paths = new Set(p.components.map(c => c.path))
  const byParent = new Map<string, ComponentStatus[]>()
  for (const c of p.components) {
    if (c.path === '') continue
    const parent = c.path.includes(':') ? c.path.slice(0, c.path.lastIndexOf(':')) : ''
    byParent.set(parent, [...(byParent.get(parent) ?? []), c])
  }
  const root = p.components.find(c => c.path === '')
  const node = (c: ComponentStatus): Html => {
    const attrs = plainAttributes(read(c.path) ?? {}, c.path, paths)
    const children = byParent.get(c.path) ?? []
    return html`<li class="component" data-component="${c.path}">
<span class="name">${componentLink(p.pool, c.path)}</span> <span class="type">${c.type}</span>
<span class="on">on <span class="hostname">${c.host}</span></span> ${stateBadge(p.pool, c.path, c.state)}
${c.reason ? html`<span class="reason">${c.reason}</span>` : ''}
${attrs.length > 0 ? html`<details><summary>${attrs.length} attribute${attrs.length === 1 ? '' : 's'}</summary><dl class="attrs">${attrs.map(([k, v]) => html`<dt>${k}</dt><dd><code>${sfText(v)}</code></dd>`)}</dl></details>` : ''}
${children.length > 0 ? html`<ul>${children.map(node)}</ul>` : ''}</li>`
  }
  const top = root ? [root] : (byParent.get('') ?? [])
  const term = p.termination
  return html`<p>Pool ${stateBadge(p.pool, '', p.state)}${term ? html` <span class="reason">${term.type} at ${term.path || '(root)'}: ${term.reason}</span>` : ''}</p>
<ul class="tree">${top.map(node)}</ul>
${terminateForm(p.pool, '')}`
}

export function terminateForm (pool: string, path: string): Html {
  const note = path === ''
    ? ''
    : html`<p class="note">Terminates <strong>${path}</strong> and its children. Its parent decides the rest (sfSyncTerminate true: it terminates too; false: the pool runs on).</p>`
  return html`<section class="terminate"><h2>Terminate</h2>${note}
<button type="button" class="act-terminate" data-pool="${pool}" data-path="${path}" data-type="normal">Terminate NORMAL</button>
<button type="button" class="act-terminate danger" data-pool="${pool}" data-path="${path}" data-type="abnormal">Terminate ABNORMAL</button>
<output class="result" role="status"></output></section>`
}

export interface ComponentPage {
  pool: string
  status: ComponentStatus
  attributes: SfJson
  childPaths: Set<string>
  logs: string[]
  /** The component is a domain: offer the ping. */
  isDomain: boolean
}

export function componentView (c: ComponentPage): Html {
  const attrs = plainAttributes(c.attributes, c.status.path, c.childPaths)
  const rows = attrs.map(([k, v]) => html`<tr data-attr="${k}"><th scope="row">${k}</th>
<td><code class="value">${sfText(v)}</code></td>
<td><form class="modify" data-pool="${c.pool}" data-path="${c.status.path}" data-attr="${k}">
<input name="value" aria-label="new value of ${k}" value="${sfText(v)}" spellcheck="false">
<button type="submit">Modify</button> <output class="error" role="alert"></output></form></td></tr>`)
  return html`<p><a href="${href('/pool', { name: c.pool })}">← pool ${c.pool}</a></p>
<dl class="facts"><dt>Type</dt><dd>${c.status.type}</dd><dt>Host</dt><dd>${c.status.host}</dd>
<dt>State</dt><dd>${stateBadge(c.pool, c.status.path, c.status.state)}</dd>
${c.status.reason ? html`<dt>Reason</dt><dd>${c.status.reason}</dd>` : ''}</dl>
<section><h2>Attributes</h2>
<p class="note">Values in .sf syntax (<code>42</code>, <code>"text"</code>, <code>[| 1, 2 |]</code>); the engine checks them against the component type.</p>
<table class="attrs"><thead><tr><th>Name</th><th>Value</th><th>Modify</th></tr></thead><tbody>${rows}</tbody></table>
<form class="modify add" data-pool="${c.pool}" data-path="${c.status.path}">
<input name="attr" aria-label="attribute name" placeholder="attribute"> <input name="value" aria-label="value" placeholder="value" spellcheck="false">
<button type="submit">Set</button> <output class="error" role="alert"></output></form></section>
${terminateForm(c.pool, c.status.path)}
${c.isDomain ? html`<section><h2>Ping</h2><p class="note">Asks the guest's status page through its forwarded port, when it has one.</p>
<button type="button" class="act-ping" data-pool="${c.pool}" data-path="${c.status.path}">Ping</button> <output class="ping" role="status"></output></section>` : ''}
<section><h2>${c.isDomain ? 'Log and serial console' : 'Log'}</h2>
<pre class="logs" data-pool="${c.pool}" data-path="${c.status.path}">${c.logs.map(l => l + '\n')}</pre></section>`
}

function fmtCapacity (h: HostView): string {
  return h.capacity ? `${h.capacity.memoryMiB} MiB, ${h.capacity.vcpus} vCPU` : 'unknown'
}

function fmtLoad (h: HostView): string {
  return h.load ? `${h.load.domains} domain${h.load.domains === 1 ? '' : 's'}, ${h.load.memoryMiB} MiB, ${h.load.vcpus} vCPU` : 'unknown'
}

export function hostsView (hosts: HostView[]): Html {
  if (hosts.length === 0) return html`<p class="empty">No hosts known.</p>`
  return html`<table class="list hosts"><thead><tr><th>Host</th><th>State</th><th>Load</th><th>Capacity</th><th>Driver</th>
<th>Images</th><th>Host names in use</th><th>Addresses in use</th><th>Peer</th></tr></thead><tbody>
${hosts.map(h => html`<tr><td>${h.name}</td><td><span class="state h-${h.state}">${h.state}</span></td><td>${fmtLoad(h)}</td>
<td>${fmtCapacity(h)}</td><td>${h.driver}</td><td>${h.images.join(', ') || '—'}</td><td>${h.hostNamesInUse.join(', ') || '—'}</td>
<td>${h.addressesInUse.join(', ') || '—'}</td><td><code>${h.peerId || '—'}</code>${h.addresses.length > 0 ? html`<br><small>${h.addresses.join(' ')}</small>` : ''}</td></tr>`)}
</tbody></table>`
}

export function imagesView (images: ImageView[]): Html {
  if (images.length === 0) return html`<p class="empty">The image warehouse is empty.</p>`
  return html`<table class="list images"><thead><tr><th>Image</th><th>Id</th><th>Format</th><th>Source</th><th>Size</th><th>Held by</th></tr></thead><tbody>
${images.map(i => html`<tr><td>${i.name}</td><td><code>${i.id === undefined ? '—' : i.id.slice(0, 12)}</code></td><td>${i.format ?? '—'}</td><td>${i.source ?? '—'}</td>
<td>${i.size === undefined ? '—' : `${(i.size / 1048576).toFixed(1)} MiB`}</td><td>${i.hosts.join(', ')}</td></tr>`)}
</tbody></table>`
}

export function errorView (message: string): Html {
  return html`<p class="error" role="alert">${message}</p><p><a href="/">Pools</a></p>`
}
