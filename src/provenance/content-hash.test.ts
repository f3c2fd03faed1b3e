import { readFile } from 'node:fs/promises';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { keccak256 } from 'viem';
import { describe, expect, it } from 'vitest';
import { contentHash, fromHex, leafHash, toHex } from './content-hash.js';

interface Vectors {
  trees: Array<{
    root: string;
    leaves: Array<{ ref: string; canonical: string; contentHash: string; leaf: string }>;
  }>;
}

const vectors = JSON.parse(
  await readFile(new URL('../../contracts/test/vectors/merkle.json', import.meta.url), 'utf8'),
) as Vectors;

describe('contentHash and leafHash', () => {
  it('reproduce the shared vectors the contract verifies', () => {
    for (const tree of vectors.trees) {
      for (const leaf of tree.leaves) {
        const hash = contentHash(JSON.parse(leaf.canonical));
        expect(toHex(hash)).toBe(leaf.contentHash);
        expect(toHex(leafHash(leaf.ref, hash))).toBe(leaf.leaf);
      }
    }
  });

  it('do not depend on key order and match StandardMerkleTree for long references', () => {
    const a = contentHash({ resourceType: 'Patient', id: 'x', active: true } as never);
    const b = contentHash({ active: true, id: 'x', resourceType: 'Patient' } as never);
    expect(toHex(a)).toBe(toHex(b));
    const ref = `Observation/${'a'.repeat(64)}/_history/12`;
    const tree = StandardMerkleTree.of([[ref, toHex(a)]], ['string', 'bytes32']);
    expect(toHex(leafHash(ref, a))).toBe(tree.leafHash([ref, toHex(a)]));
    expect(fromHex(toHex(a))).toEqual(a);
  });

  it('hash the UTF-8 bytes of any size, one document after another', () => {
    const patient = (text: string) =>
      ({ resourceType: 'Patient', id: 'x', name: [{ text }] }) as never;
    // Non-ASCII text, a document larger than the reused buffer, then small ones again.
    for (const text of ['Zoë Müller 山田 👩‍⚕️', 'é'.repeat(200_000), 'a', '']) {
      const canonical = JSON.stringify({ id: 'x', name: [{ text }], resourceType: 'Patient' });
      expect(toHex(contentHash(patient(text)))).toBe(
        keccak256(new TextEncoder().encode(canonical)),
      );
    }
  });
});
