import { createPublicClient, type Hex, http } from 'viem';
import { readContract } from 'viem/actions';
import { provenanceAnchorAbi } from '../abi/provenance-anchor.js';

export interface OnChainAnchor {
  anchoredAt: Date;
  blockNumber: bigint;
}

/**
 * Reads roots' anchoring straight from a chain's JSON-RPC (never through the FHIR server);
 * each root is read once, since a batch's versions all share it.
 */
export function createChainAnchors(rpcUrl: string, provenanceAnchor: Hex) {
  const client = createPublicClient({ transport: http(rpcUrl, { retryCount: 2 }) });
  const cache = new Map<string, Promise<OnChainAnchor | undefined>>();
  const read = async (root: Hex): Promise<OnChainAnchor | undefined> => {
    const anchor = await readContract(client, {
      address: provenanceAnchor,
      abi: provenanceAnchorAbi,
      functionName: 'getAnchor',
      args: [root],
    });
    if (anchor.anchoredAt === 0n) return undefined;
    return {
      anchoredAt: new Date(Number(anchor.anchoredAt) * 1000),
      blockNumber: anchor.blockNumber,
    };
  };
  return {
    chainId: () => client.getChainId(),
    /** The root's anchoring, or undefined when this contract never anchored it. */
    anchorOf(root: Hex): Promise<OnChainAnchor | undefined> {
      let entry = cache.get(root);
      if (!entry) {
        entry = read(root);
        // A transport failure is not an answer: the next version asks again.
        entry.catch(() => cache.delete(root));
        cache.set(root, entry);
      }
      return entry;
    },
  };
}

export type ChainAnchors = ReturnType<typeof createChainAnchors>;
