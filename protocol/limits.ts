// Size bounds of everything that crosses the wire. A peer that sends more is refused and its misbehaviour counted.

/** One membership datagram (ping-req, ack, gossip): small, piggy-backed updates only. */
export const MAX_MEMBERSHIP_MESSAGE_BYTES = 16 * 1024
/** A push-pull state sync carries the whole member list: about 150 bytes a member, room for ~3,000 members. */
export const MAX_PUSH_PULL_BYTES = 512 * 1024
/** One signed host announcement: room for every field at its bound (16 names, 16 addresses, 32 images). */
export const MAX_ANNOUNCEMENT_BYTES = 16 * 1024
/** Base images (names and ids) one announcement lists: the newest ones, enough for the scheduler's cost. */
export const MAX_ANNOUNCED_IMAGES = 32
/** Default bound of one request or response on an rpc protocol. */
export const DEFAULT_MAX_RPC_BYTES = 1024 * 1024

export const MAX_ID_LENGTH = 128
export const MAX_ADDRS = 16
export const MAX_ADDR_LENGTH = 256
export const MAX_HOST_NAMES = 16
/** RFC 1035: 253 characters for a full name. */
export const MAX_HOST_NAME_LENGTH = 253
export const MAX_UPDATES_PER_MESSAGE = 64
/** A push-pull carries at most this many members (about 300 KB with real multiaddrs); larger meshes sync a window. */
export const MAX_MEMBERS_PER_SYNC = 2048
