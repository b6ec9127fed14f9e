// Protocol ids and gossip topics of the mesh. Versioned: a change of wire format is a new id.

export const MEMBERSHIP_PROTOCOL = '/sdpeer/membership/1.0.0'
export const DIRECTORY_FETCH_PROTOCOL = '/sdpeer/directory/1.0.0'
export const ANNOUNCEMENT_TOPIC = 'sdpeer/hosts/1'
/** Directory anti-entropy (protocol/directory-sync.ts): digest exchange, then a fetch of the entries missing. */
export const DIRECTORY_DIGEST_PROTOCOL = '/sdpeer/directory-digest/1.0.0'
export const DIRECTORY_GET_PROTOCOL = '/sdpeer/directory-get/1.0.0'
/** `sdpeer hosts forget`: the operator's signed request, handed by the entry peer to every member (protocol/forget.ts). */
export const DIRECTORY_FORGET_PROTOCOL = '/sdpeer/directory-forget/1.0.0'
