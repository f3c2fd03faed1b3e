import { keccak256 } from '../provenance/keccak.js';

/**
 * A Merkle tree in the `@openzeppelin/merkle-tree` layout (leaves sorted, stored at the end of
 * the node array in reverse order, sorted-pair keccak256 nodes), so its proofs are checked by
 * `MerkleProof.verify`. Written over one byte buffer because the library's hex-string
 * implementation builds ~7k leaves/s and a backlog batch holds tens of thousands.
 */
export interface MerkleTree {
  root: Uint8Array;
  /** Every node, 32 bytes each, in tree order (node 0 = root): what is stored per batch. */
  nodes: Uint8Array;
  leafCount: number;
}

const NODE = 32;

/** Builds the tree of already-hashed leaves (StandardMerkleTree leaf hashes). */
export function buildMerkleTree(leaves: readonly Uint8Array[]): MerkleTree {
  if (leaves.length === 0) throw new RangeError('a Merkle tree needs at least one leaf');
  const sorted = leaves.slice().sort(compare);
  const count = 2 * sorted.length - 1;
  const nodes = new Uint8Array(count * NODE);
  for (let i = 0; i < sorted.length; i++) nodes.set(sorted[i]!, (count - 1 - i) * NODE);
  const pair = new Uint8Array(2 * NODE);
  for (let i = count - 1 - sorted.length; i >= 0; i--) {
    const left = node(nodes, 2 * i + 1);
    const right = node(nodes, 2 * i + 2);
    const [a, b] = compare(left, right) <= 0 ? [left, right] : [right, left];
    pair.set(a, 0);
    pair.set(b, NODE);
    nodes.set(keccak256(pair), i * NODE);
  }
  return { root: nodes.slice(0, NODE), nodes, leafCount: sorted.length };
}

/** The sibling path of `leaf` in a stored tree, bottom up; undefined when the leaf is absent. */
export function merkleProof(nodes: Uint8Array, leaf: Uint8Array): Uint8Array[] | undefined {
  let index = findLeaf(nodes, leaf);
  if (index === undefined) return undefined;
  const proof: Uint8Array[] = [];
  while (index > 0) {
    proof.push(node(nodes, index % 2 === 1 ? index + 1 : index - 1));
    index = Math.floor((index - 1) / 2);
  }
  return proof;
}

/** Recomputes a root from a leaf and its proof (what `MerkleProof.processProof` does). */
export function processProof(leaf: Uint8Array, proof: readonly Uint8Array[]): Uint8Array {
  let hash = leaf;
  for (const sibling of proof) {
    const [a, b] = compare(hash, sibling) <= 0 ? [hash, sibling] : [sibling, hash];
    const pair = new Uint8Array(2 * NODE);
    pair.set(a, 0);
    pair.set(b, NODE);
    hash = keccak256(pair);
  }
  return hash;
}

/** Leaves sit at node indexes n-1 .. 2n-2 in descending order: a binary search finds one. */
function findLeaf(nodes: Uint8Array, leaf: Uint8Array): number | undefined {
  const count = nodes.length / NODE;
  const leafCount = (count + 1) / 2;
  let low = leafCount - 1;
  let high = count - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const order = compare(node(nodes, middle), leaf);
    if (order === 0) return middle;
    if (order > 0) low = middle + 1;
    else high = middle - 1;
  }
  return undefined;
}

function node(nodes: Uint8Array, index: number): Uint8Array {
  return nodes.subarray(index * NODE, (index + 1) * NODE);
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < NODE; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return 0;
}
