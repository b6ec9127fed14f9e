// Generators of large and deep .sf texts for the scale tests and the parse benchmark.

/** One pool member shaped like the SmartDomains tutorial pools (comments, strings, LAZY links, an operator). */
function member (i: number): string {
  return `    // domain ${i}: ${i % 3 === 0 ? 'loopback' : 'LVM'} storage, placed by the scheduler unless pinned
    backend${i} extends ${i % 3 === 0 ? 'LoopbackStorageBackend' : 'LVMStorageBackend'} {
        shell LAZY ATTRIB myShell;
        domainName "domain${i}";
        baseImage "/data/xen/slc3-smartfrog-${i % 17}.img";
        size ${1024 + (i % 4096)}L;
    }
    domain${i} extends DefaultXenDomain {
        domainName "domain${i}"; // useless since rev 84 / release 0.9.02
        ip "10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}";
        hostname "machine${i % 500}-dom${i}";
        memory (256 * ${1 + (i % 8)});
        [sfFinal] vcpus ${1 + (i % 4)};
        storageBackend LAZY ATTRIB backend${i};
        extraArgs [| "console=hvc0", "root=/dev/xvda1" |];
    }
`
}

/** A pool description of at least `bytes` characters; returns the text and the number of members. */
export function poolText (bytes: number): { text: string, members: number } {
  const head = `DefaultXenDomain extends XenDomain {
    shell LAZY ATTRIB myShell;
    kernel "/boot/vmlinuz-2.6-xen";
}
sfConfig extends Compound {
    sfSyncTerminate true;
    myShell extends BashShell;
`
  const parts = [head]
  let size = head.length
  let members = 0
  while (size < bytes) {
    const m = member(members++)
    parts.push(m)
    size += m.length
  }
  parts.push('}\n')
  return { text: parts.join(''), members }
}

/** `depth` levels of one nesting construct, closed (or not). */
export function nested (kind: 'braces' | 'parens' | 'vectors' | 'primvectors' | 'ifs' | 'unclosed', depth: number): string {
  switch (kind) {
    case 'braces': return 'a extends { '.repeat(depth) + '}'.repeat(depth)
    case 'unclosed': return 'a extends { '.repeat(depth)
    case 'parens': return 'a ' + '('.repeat(depth) + '1' + ')'.repeat(depth)
    case 'vectors': return 'a ' + '[ '.repeat(depth) + '1' + ' ]'.repeat(depth)
    case 'primvectors': return 'a ' + '[| '.repeat(depth) + '1' + ' |]'.repeat(depth)
    case 'ifs': return 'a ' + 'IF true THEN '.repeat(depth) + '1' + ' ELSE 2 FI'.repeat(depth)
  }
}
