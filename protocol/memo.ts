/**
 * `compute` remembered by argument, for values that never change once computed (parsed keys, peer ids, hash
 * scores). Bounded: when `max` entries are held, they are all dropped and the next ones computed again.
 */
export function boundedMemo<K, V> (compute: (key: K) => V, max: number): (key: K) => V {
  const held = new Map<K, V>()
  return (key: K): V => {
    if (held.has(key)) return held.get(key) as V
    const v = compute(key)
    if (held.size >= max) held.clear()
    held.set(key, v)
    return v
  }
}
