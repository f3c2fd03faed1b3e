import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { buildMerkleVectors, MERKLE_VECTORS_FILE } from '../../scripts/merkle-vectors.mjs';

describe('shared Merkle vectors', () => {
  it('are what @openzeppelin/merkle-tree produces today', async () => {
    const committed = JSON.parse(await readFile(MERKLE_VECTORS_FILE, 'utf8'));
    expect(buildMerkleVectors()).toEqual(committed);
  });
});
