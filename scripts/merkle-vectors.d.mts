export interface MerkleVectorLeaf {
  ref: string;
  canonical: string;
  contentHash: `0x${string}`;
  leaf: `0x${string}`;
  proof: `0x${string}`[];
}

export interface MerkleVectors {
  description: string;
  treeCount: number;
  trees: { root: `0x${string}`; leafCount: number; leaves: MerkleVectorLeaf[] }[];
}

export const MERKLE_VECTORS_FILE: string;
export const LEAF_TYPES: string[];
export function buildMerkleVectors(): MerkleVectors;
export function renderMerkleVectors(vectors: MerkleVectors): string;
