// The console's script and style, served from memory: no build step and nothing fetched from the network. The
// script only ever writes text (textContent), never markup, so nothing a description holds can become HTML here.

export const CONSOLE_JS = `'use strict'
;(function () {
  var csrf = document.querySelector('meta[name="sdpeer-csrf"]').getAttribute('content')

  function each (selector, fn) { Array.prototype.forEach.call(document.querySelectorAll(selector), fn) }
  function matches (el, pool, path) { return el.getAttribute('data-pool') === pool && el.getAttribute('data-path') === path }

  function post (url, body) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-sdpeer-csrf': csrf },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) throw new Error((j.error && (j.error.name + ': ' + j.error.message)) || ('HTTP ' + r.status))
        return j
      })
    })
  }

  // The pools list grows a row when a pool it does not show starts deploying (built with DOM calls, as text).
  function addPoolRow (pool, state) {
    var table = document.querySelector('table.pools')
    if (!table) return
    var link = document.createElement('a')
    link.className = 'pool-link'
    link.href = '/pool?' + new URLSearchParams({ name: pool }).toString()
    link.textContent = pool
    var badge = document.createElement('span')
    badge.className = 'state s-' + state
    badge.setAttribute('data-pool', pool)
    badge.setAttribute('data-path', '')
    badge.textContent = state
    var row = document.createElement('tr')
    ;[link, badge, document.createTextNode(''), document.createTextNode('')].forEach(function (node) {
      var td = document.createElement('td')
      td.appendChild(node)
      row.appendChild(td)
    })
    table.tBodies[0].appendChild(row)
    table.hidden = false
    each('p.empty', function (p) { p.hidden = true })
  }

  function sfText (v) {
    if (v === null) return 'NULL'
    if (typeof v === 'string') return JSON.stringify(v)
    if (typeof v !== 'object') return String(v)
    if (Array.isArray(v)) return '[| ' + v.map(sfText).join(', ') + ' |]'
    if (typeof v.$ref === 'string') return v.$ref
    return '{ ' + Object.keys(v).filter(function (k) { return k.charAt(0) !== '$' }).map(function (k) { return k + ' ' + sfText(v[k]) + ';' }).join(' ') + ' }'
  }

  function onEvent (e) {
    if (e.kind === 'state' && e.state) {
      each('.state[data-pool]', function (el) {
        if (!matches(el, e.pool, e.path)) return
        el.textContent = e.state
        el.className = 'state s-' + e.state
      })
      var known = false
      each('.state[data-pool]', function (el) { if (matches(el, e.pool, '')) known = true })
      // The root reports last: a child's first event already says the pool is deploying.
      if (!known) addPoolRow(e.pool, e.path === '' ? e.state : 'deploying')
    } else if (e.kind === 'log') {
      each('pre.logs[data-pool]', function (el) {
        if (matches(el, e.pool, e.path)) el.appendChild(document.createTextNode(e.message + '\\n'))
      })
    } else if (e.kind === 'attribute') {
      // The engine says "attr = JSON"; the table shows .sf syntax, as the server renders it.
      var m = /^([A-Za-z_][A-Za-z0-9_-]*) = ([\\s\\S]*)$/.exec(e.message)
      if (!m) return
      var value
      try { value = JSON.parse(m[2]) } catch (err) { return }
      each('tr[data-attr]', function (row) {
        var form = row.querySelector('form.modify')
        if (row.getAttribute('data-attr') !== m[1] || !form || !matches(form, e.pool, e.path)) return
        var text = sfText(value)
        row.querySelector('code.value').textContent = text
        var input = form.querySelector('input[name="value"]')
        if (input && document.activeElement !== input) input.value = text
      })
    }
  }

  function connect () {
    var live = document.getElementById('live')
    var source = new EventSource('/events')
    source.onopen = function () { if (live) { live.textContent = '● live'; live.className = 'live on' } }
    source.onerror = function () { if (live) { live.textContent = '○ reconnecting'; live.className = 'live' } }
    source.onmessage = function (m) {
      try { onEvent(JSON.parse(m.data)) } catch (err) { console.error(err) }
    }
  }

  document.addEventListener('submit', function (ev) {
    var form = ev.target
    if (!form.classList || !form.classList.contains('modify')) return
    ev.preventDefault()
    var out = form.querySelector('output.error')
    var attr = form.getAttribute('data-attr') || (form.elements.attr && form.elements.attr.value) || ''
    out.textContent = ''
    out.className = 'error'
    post('/api/set', { pool: form.getAttribute('data-pool'), path: form.getAttribute('data-path'), attr: attr, value: form.elements.value.value })
      .then(function (j) {
        var row = form.closest('tr')
        var shown = row && row.querySelector('code.value')
        if (shown) shown.textContent = j.value
        out.textContent = 'set'
        out.className = 'ok'
        if (!row) location.reload()
      }, function (err) { out.textContent = err.message })
  })

  document.addEventListener('click', function (ev) {
    var b = ev.target
    if (!b.classList) return
    if (b.classList.contains('act-terminate')) {
      var out = b.parentNode.querySelector('output.result')
      out.textContent = 'terminating…'
      post('/api/terminate', { pool: b.getAttribute('data-pool'), path: b.getAttribute('data-path'), type: b.getAttribute('data-type') })
        .then(function (j) { out.textContent = j.message }, function (err) { out.textContent = err.message })
    } else if (b.classList.contains('act-ping')) {
      var o = b.parentNode.querySelector('output.ping')
      o.textContent = 'asking…'
      var q = new URLSearchParams({ pool: b.getAttribute('data-pool'), path: b.getAttribute('data-path') })
      fetch('/api/ping?' + q.toString(), { credentials: 'same-origin' }).then(function (r) { return r.json() })
        .then(function (j) { o.textContent = j.status + (j.detail ? ': ' + j.detail : '') }, function (err) { o.textContent = err.message })
    }
  })

  connect()
})()
`

export const CONSOLE_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2430; background: #f6f7f9 }
header { display: flex; gap: 1.5em; align-items: center; padding: .6em 1.2em; background: #1d2430; color: #fff }
header a { color: #cfe0ff; text-decoration: none } header a[aria-current] { color: #fff; font-weight: bold }
header .live { margin-left: auto; font-size: 12px; color: #aab } header .live.on { color: #7fdc8a }
main { padding: 1em 1.5em }
h1 { font-size: 20px } h2 { font-size: 16px; margin-top: 1.5em }
table { border-collapse: collapse; background: #fff } th, td { border: 1px solid #dde; padding: .3em .6em; text-align: left; vertical-align: top }
code, pre { font-family: ui-monospace, monospace; font-size: 13px } pre.logs { background: #111; color: #ddd; padding: .6em; max-height: 24em; overflow: auto; white-space: pre-wrap }
.state { display: inline-block; padding: 0 .5em; border-radius: 3px; background: #ccd; font-size: 12px }
.s-running, .h-alive { background: #bfe8c4 } .s-deploying, .s-deployed, .s-terminating, .h-suspect { background: #ffe4a8 }
.s-terminated { background: #d8d8d8 } .s-failed, .h-dead { background: #f6b8b8 }
ul.tree, ul.tree ul { list-style: none; padding-left: 1.4em; border-left: 1px dotted #99a } ul.tree { border: 0; padding-left: 0 }
li.component { margin: .3em 0 } .type { color: #667; font-size: 12px } .on { color: #667; font-size: 12px } .reason { color: #a33 }
dl.attrs { display: grid; grid-template-columns: max-content auto; gap: .1em 1em; margin: .3em 0 }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: .2em 1em }
.note { color: #556; font-size: 12px } .error { color: #b00 } .ok { color: #070 } .empty { color: #667 }
input { font-family: ui-monospace, monospace; min-width: 16em } button.danger { color: #a00 }
`
