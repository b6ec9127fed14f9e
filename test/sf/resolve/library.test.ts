import { describe, expect, it } from 'vitest'
import { checkText } from '../../../node/sf/index.ts'

// The SmartFrog library files sdpeer bundles beyond its own components (workflow, display, trace, version,
// assertions): descriptions written for SmartFrog that include them resolve with no -I directory at all.

function resolve (text: string): Record<string, unknown> {
  const r = checkText(text, '/tmp/library-test.sf', { env: {} })
  expect(r.diagnostics.filter(d => d.severity === 'error').map(d => `${d.code} ${d.message}`)).toEqual([])
  return r.config as Record<string, unknown>
}

describe('bundled SmartFrog library files', () => {
  it('event-bus compounds: ActionsCompound and ActionCompound', () => {
    const c = resolve(`#include "org/smartfrog/components.sf"
#include "/org/smartfrog/sfcore/workflow/eventbus/eventbus.sf"
sfConfig extends Compound {
  many extends ActionsCompound { a extends Prim; }
  one extends ActionCompound { action extends Prim; }
}`)
    const many = c.many as Record<string, unknown>
    expect(many.sfClass).toBe('org.smartfrog.sfcore.workflow.eventbus.EventCompoundImpl')
    expect(Object.keys(many)).toEqual(expect.arrayContaining(['eventCompoundSchema', 'sendTo', 'registerWith', 'actionsCompoundSchema']))
    expect(Object.keys(many)).toContain('a')
    expect(Object.keys(c.one as object)).toContain('action')
  })

  it('ActionCompound without its action fails its schema', () => {
    const r = checkText(`#include "org/smartfrog/components.sf"
#include "/org/smartfrog/sfcore/workflow/eventbus/eventbus.sf"
sfConfig extends ActionCompound;`, '/tmp/library-test.sf', { env: {} })
    expect(r.diagnostics.filter(d => d.severity === 'error').map(d => d.message).join('\n')).toMatch(/action/)
  })

  it('DetachingCompound detaches both ways', () => {
    const c = resolve(`#include "org/smartfrog/components.sf"
#include "/org/smartfrog/sfcore/workflow/combinators/detachingcompound.sf"
sfConfig extends DetachingCompound { detachUpwards false; }`)
    expect([c.sfClass, c.detachDownwards, c.detachUpwards, c.autoDestruct])
      .toEqual(['org.smartfrog.sfcore.workflow.combinators.DetachingCompoundImpl', true, false, true])
  })

  it('Display, TraceDisplay, Trace and DeployDisplay resolve with their defaults', () => {
    const c = resolve(`#include "org/smartfrog/components.sf"
#include "/org/smartfrog/services/display/components.sf"
#include "/org/smartfrog/services/trace/components.sf"
#include "/org/smartfrog/services/management/components.sf"
sfConfig extends Compound {
  d extends Display { positionDisplay "NW"; }
  td extends TraceDisplay;
  t extends Trace { outputMsg LAZY ATTRIB td; }
  m extends DeployDisplay;
}`)
    const d = c.d as Record<string, unknown>
    expect([d.positionDisplay, d.heightDisplay, d.widthDisplay, d.fontSize]).toEqual(['NW', 400, 500, 12])
    expect((c.td as Record<string, unknown>).stepTrace).toBe(false)
    expect((c.t as Record<string, unknown>).outputMsg).toEqual({ $ref: 'LAZY ATTRIB td' })
    expect((c.m as Record<string, unknown>).sfClass).toBe('org.smartfrog.services.management.SFDeployDisplay')
  })

  it('Version gives the release whose language we follow', () => {
    const c = resolve(`#include "org/smartfrog/components.sf"
#include "/org/smartfrog/version.sf"
sfConfig extends Compound { info Version; v info:version; }`)
    expect(c.v).toBe('SmartFrog.3.18.017 (@buildDate@), license Apache 2.0')
  })

  it('test components: ExpectDeployFailure with an AssertWorkflow action and exception names', () => {
    const c = resolve(`#include "org/smartfrog/components.sf"
#include "/org/smartfrog/services/assertions/components.sf"
sfConfig extends ExpectDeployFailure {
  action extends AssertWorkflow { prim LAZY PARENT; attribute "x"; }
  exceptions [[SmartFrogExceptionNames:EXCEPTION_RESOLUTION, "boom"]];
}`)
    expect([c.expectTerminate, c.exitType, c.testTimeout]).toEqual([true, 'abnormal', 15000])
    expect(c.exceptions).toEqual([['org.smartfrog.sfcore.common.SmartFrogResolutionException', 'boom']])
    expect((c.action as Record<string, unknown>).sfShouldTerminate).toBe(true)
  })

  it('TestCompound without its action is an error (action is TBD)', () => {
    const r = checkText(`#include "org/smartfrog/components.sf"
#include "/org/smartfrog/services/assertions/components.sf"
sfConfig extends TestCompound;`, '/tmp/library-test.sf', { env: {} })
    expect(r.diagnostics.some(d => d.severity === 'error')).toBe(true)
  })
})
