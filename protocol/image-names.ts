// How an image is named everywhere: a warehouse name or id (node/images/warehouse.ts), an entry of a host
// announcement's `images`, and `baseImage "image:NAME"` in a description. One pattern, so that a name the
// warehouse accepts is one a description may use and a peer may announce.

/** A warehouse name or a (prefix of a) 64-hex id: no separators, no "..", at most 128 characters. */
export const IMAGE_ENTRY = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/

/** `image:NAME` or `image:ID` as a description writes it. */
export function isImageRefValue (v: string): boolean {
  return v.startsWith('image:') && IMAGE_ENTRY.test(v.slice('image:'.length))
}
