import { createRequire } from 'node:module';
import type { Resource } from 'fhir/r4.js';
import { keccak256 } from './keccak.js';

// canonicalize is CommonJS whose typings declare an ES default export that Node does not see.
const canonicalize = createRequire(import.meta.url)('canonicalize') as (
  input: unknown,
) => string | undefined;

/** What identifies a version on the ledger: `<Type>/<id>/_history/<vid>`. */
export interface VersionKey {
  resourceType: string;
  id: string;
  versionId: number;
}

/**
 * The document hashed for a deletion, which vread cannot return (410): type, id and meta of the
 * tombstone plus `"deleted": true`, an element no FHIR resource has, so no stored resource can
 * collide with it.
 */
export interface Tombstone {
  resourceType: string;
  id: string;
  meta: { versionId: string; lastUpdated: string };
  deleted: true;
}

const encoder = new TextEncoder();

export function versionRef({ resourceType, id, versionId }: VersionKey): string {
  return `${resourceType}/${id}/_history/${versionId}`;
}

export function tombstone(key: VersionKey, lastUpdated: string): Tombstone {
  const { resourceType, id, versionId } = key;
  return { resourceType, id, meta: { versionId: String(versionId), lastUpdated }, deleted: true };
}

/** keccak256 of the UTF-8 bytes of the RFC 8785 (JCS) form of the version as vread returns it. */
export function contentHash(document: Resource | Tombstone): Uint8Array {
  const canonical = canonicalize(document);
  if (canonical === undefined) throw new TypeError('resource cannot be canonicalised');
  return keccak256(utf8(canonical));
}

// TextEncoder.encode allocates a buffer per call; encodeInto one reused buffer does not (21 to
// 19 µs per Synthea resource for the whole hash, `npm run bench:index`). UTF-8 takes at most
// 3 bytes per UTF-16 unit; larger documents get a buffer of their own so none is kept around.
// The view is hashed before the next call can overwrite it.
const scratch = new Uint8Array(256 * 1024);
function utf8(text: string): Uint8Array {
  if (text.length * 3 > scratch.length) return encoder.encode(text);
  const { written } = encoder.encodeInto(text, scratch);
  return scratch.subarray(0, written);
}

/**
 * The OpenZeppelin StandardMerkleTree leaf of `["string","bytes32"]`:
 * keccak256(keccak256(abi.encode(ref, contentHash))), the abi encoding written out by hand
 * because it runs once per stored version.
 */
export function leafHash(ref: string, hash: Uint8Array): Uint8Array {
  const refBytes = encoder.encode(ref);
  const padded = Math.ceil(refBytes.length / 32) * 32;
  const encoded = new Uint8Array(96 + padded);
  encoded[31] = 0x40; // offset of the string's tail: after the two head words
  encoded.set(hash, 32);
  writeUint(encoded, 64, refBytes.length);
  encoded.set(refBytes, 96);
  return keccak256(keccak256(encoded));
}

function writeUint(target: Uint8Array, offset: number, value: number) {
  let v = value;
  for (let i = offset + 31; v > 0; i--) {
    target[i] = v & 0xff;
    v = Math.floor(v / 256);
  }
}

export function toHex(bytes: Uint8Array): `0x${string}` {
  return `0x${Buffer.from(bytes).toString('hex')}`;
}

export function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex.replace(/^0x/, ''), 'hex'));
}
