import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { SimpleMerkleTree } from '@openzeppelin/merkle-tree';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../provenance/content-hash.js';
import { buildMerkleTree, merkleProof, processProof } from './merkle.js';

const vectors = JSON.parse(
  await readFile(new URL('../../contracts/test/vectors/merkle.json', import.meta.url), 'utf8'),
) as { trees: Array<{ root: string; leaves: Array<{ leaf: string; proof: string[] }> }> };

describe('buildMerkleTree', () => {
  it('reproduces the shared vectors (roots and proofs the contract verifies)', () => {
    for (const vector of vectors.trees) {
      const tree = buildMerkleTree(vector.leaves.map((l) => fromHex(l.leaf)));
      expect(toHex(tree.root)).toBe(vector.root);
      for (const leaf of vector.leaves) {
        expect(merkleProof(tree.nodes, fromHex(leaf.leaf))?.map(toHex)).toEqual(leaf.proof);
      }
    }
  });

  it('matches @openzeppelin/merkle-tree node for node on random trees', () => {
    for (const size of [1, 2, 3, 4, 7, 64, 257]) {
      const leaves = Array.from({ length: size }, () => new Uint8Array(randomBytes(32)));
      const ours = buildMerkleTree(leaves);
      const theirs = SimpleMerkleTree.of(leaves.map(toHex));
      expect(toHex(ours.root)).toBe(theirs.root);
      const nodes = Array.from({ length: 2 * size - 1 }, (_, i) =>
        toHex(ours.nodes.subarray(i * 32, i * 32 + 32)),
      );
      expect(nodes).toEqual(theirs.dump().tree);
      for (const leaf of leaves) {
        const proof = merkleProof(ours.nodes, leaf)!;
        expect(proof.map(toHex)).toEqual(theirs.getProof(toHex(leaf)));
        expect(toHex(processProof(leaf, proof))).toBe(theirs.root);
      }
      expect(merkleProof(ours.nodes, new Uint8Array(32))).toBeUndefined();
    }
  });
});
