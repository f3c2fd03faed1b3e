import type { Parameters, ParametersParameter } from 'fhir/r4.js';
import type pg from 'pg';
import type { Address, Client } from 'viem';
import { readContract } from 'viem/actions';
import { FhirError, issue } from '../fhir/errors.js';
import type { VersionRow } from '../fhir/storage/resource-store.js';
import { contentHash, leafHash, toHex, tombstone, versionRef } from '../provenance/content-hash.js';
import { provenanceAnchorAbi } from './abi/provenance-anchor.js';
import { versionAnchor } from './anchor-store.js';
import { merkleProof, processProof } from './merkle.js';

export interface VerifyVersionDependencies {
  pool: pg.Pool;
  client: Client;
  chainId: number;
  provenanceAnchor: Address;
}

/**
 * $verify: recomputes contentHash and leaf from the version as stored now, checks the proof
 * against the batch root and reads that root's anchoring from the chain. A version changed in
 * the database after it was written reports `mismatch`.
 */
export async function verifyVersion(
  deps: VerifyVersionDependencies,
  version: VersionRow,
): Promise<Parameters> {
  const ref = versionRef(version);
  const hash = contentHash(version.resource ?? tombstone(version, version.lastUpdated));
  const leaf = leafHash(ref, hash);
  const out: ParametersParameter[] = [
    { name: 'reference', valueString: ref },
    { name: 'contentHash', valueString: toHex(hash) },
    { name: 'leaf', valueString: toHex(leaf) },
    { name: 'chainId', valueInteger: deps.chainId },
    { name: 'provenanceAnchor', valueString: deps.provenanceAnchor },
  ];
  const anchor = await versionAnchor(
    deps.pool,
    version.resourceType,
    version.id,
    version.versionId,
  );
  const result = (status: 'anchored' | 'pending' | 'mismatch', why?: string): Parameters => ({
    resourceType: 'Parameters',
    parameter: [
      { name: 'verified', valueBoolean: status === 'anchored' },
      { name: 'status', valueCode: status },
      ...out,
      ...(why ? [{ name: 'message', valueString: why }] : []),
    ],
  });
  if (!anchor) return result('pending', 'no anchor record for this version');
  if (!anchor.contentHash.equals(Buffer.from(hash))) {
    out.push({ name: 'recordedContentHash', valueString: toHex(anchor.contentHash) });
    return result('mismatch', 'the stored version no longer has the hash recorded when written');
  }
  if (!anchor.anchoredAt || !anchor.root || !anchor.tree) return result('pending');

  const proof = merkleProof(anchor.tree, anchor.leaf) ?? [];
  out.push(
    { name: 'merkleRoot', valueString: toHex(anchor.root) },
    ...proof.map((p) => ({ name: 'proof', valueString: toHex(p) })),
    { name: 'transactionHash', valueString: toHex(anchor.txHash!) },
    { name: 'blockNumber', valueInteger: Number(anchor.blockNumber) },
    { name: 'batchId', valueString: toHex(anchor.batchKey!) },
  );
  if (!Buffer.from(processProof(leaf, proof)).equals(anchor.root)) {
    return result('mismatch', 'the proof does not lead from this leaf to the batch root');
  }
  let onChain: { anchoredAt: bigint; blockNumber: bigint };
  try {
    onChain = await readContract(deps.client, {
      address: deps.provenanceAnchor,
      abi: provenanceAnchorAbi,
      functionName: 'getAnchor',
      args: [toHex(anchor.root)],
    });
  } catch (cause) {
    throw new FhirError(503, [issue('transient', 'The chain cannot be read right now')], {
      cause,
    });
  }
  if (onChain.anchoredAt === 0n) return result('mismatch', 'the batch root is not on this chain');
  out.push({
    name: 'anchoredAt',
    valueInstant: new Date(Number(onChain.anchoredAt) * 1000).toISOString(),
  });
  return result('anchored');
}
