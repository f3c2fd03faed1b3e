import { createRequire } from 'node:module';
import { keccak_256 } from '@noble/hashes/sha3';
import { encodeAbiParameters, type Hex, toBytes, toHex } from 'viem';

// Written from design.md, not from the server's provenance code: a bug there must not hide here.
const canonicalize = createRequire(import.meta.url)('canonicalize') as (
  input: unknown,
) => string | undefined;

/** keccak256 of the UTF-8 bytes of the RFC 8785 (JCS) form of the version as vread returned it. */
export function recomputeContentHash(document: object): Hex {
  const canonical = canonicalize(document);
  if (canonical === undefined) throw new TypeError('the version cannot be canonicalised');
  return toHex(keccak_256(new TextEncoder().encode(canonical)));
}

/** The StandardMerkleTree leaf of `["string","bytes32"]`, through viem's ABI encoder. */
export function recomputeLeaf(ref: string, contentHash: Hex): Uint8Array {
  const encoded = encodeAbiParameters(
    [{ type: 'string' }, { type: 'bytes32' }],
    [ref, contentHash],
  );
  return keccak_256(keccak_256(toBytes(encoded)));
}
