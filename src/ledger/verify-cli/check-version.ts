import type { Bundle, Parameters } from 'fhir/r4.js';
import type { Client } from 'fhir-kit-client';
import { type Hex, toHex } from 'viem';
import { processProof } from '../merkle.js';
import type { ChainAnchors } from './chain-anchors.js';
import { recomputeContentHash, recomputeLeaf } from './independent-hash.js';
import { fromEntry, type VersionItem } from './list-versions.js';

export type VersionStatus = 'verified' | 'mismatch' | 'pending' | 'error';

export interface VersionResult {
  ref: string;
  status: VersionStatus;
  message?: string;
  root?: Hex;
  anchoredAt?: Date;
  blockNumber?: bigint;
}

export interface CheckVersionContext {
  client: Client;
  chain: ChainAnchors;
  /** Sets a fresh bearer token on the client before a request. */
  authorize: () => Promise<void>;
}

/**
 * Verifies one version without trusting the server's verdict: its content as vread returns it
 * is hashed here, only the proof's siblings are taken from `$verify`, and the root they lead to
 * is looked up on the chain.
 */
export async function checkVersion(
  ctx: CheckVersionContext,
  item: VersionItem,
): Promise<VersionResult> {
  const ref = `${item.resourceType}/${item.id}/_history/${item.versionId}`;
  try {
    const document = item.document ?? (await readVersion(ctx, item));
    const leaf = recomputeLeaf(ref, recomputeContentHash(document));
    await ctx.authorize();
    const answer = (await ctx.client.request(`${ref}/$verify`)) as Parameters;
    const parameters = answer.parameter ?? [];
    const proof = parameters.filter((p) => p.name === 'proof').map((p) => p.valueString ?? '');
    const serverStatus = parameters.find((p) => p.name === 'status')?.valueCode;
    if (proof.length === 0 && serverStatus !== 'anchored') {
      return serverStatus === 'pending'
        ? { ref, status: 'pending', message: 'not anchored yet (no proof)' }
        : { ref, status: 'mismatch', message: `no proof given (server says ${serverStatus})` };
    }
    if (!proof.every((p) => /^0x[0-9a-fA-F]{64}$/.test(p))) {
      return { ref, status: 'mismatch', message: 'the proof holds a malformed sibling' };
    }
    const root = toHex(processProof(leaf, proof.map(hexBytes)));
    const anchor = await ctx.chain.anchorOf(root);
    if (!anchor) {
      return {
        ref,
        status: 'mismatch',
        root,
        message: 'content, leaf and proof lead to a root that is not anchored on chain',
      };
    }
    return { ref, status: 'verified', root, ...anchor };
  } catch (err) {
    return { ref, status: 'error', message: describe(err) };
  }
}

/** vread; a deleted version (410) is found in the resource's history as a tombstone. */
async function readVersion(ctx: CheckVersionContext, item: VersionItem): Promise<object> {
  const { resourceType, id, versionId } = item;
  await ctx.authorize();
  try {
    return await ctx.client.vread({ resourceType, id, version: versionId });
  } catch (err) {
    if ((err as { response?: { status?: number } }).response?.status !== 410) throw err;
  }
  await ctx.authorize();
  const history = (await ctx.client.request(
    `${resourceType}/${id}/_history?_count=1000`,
  )) as unknown as Bundle;
  for (const entry of history.entry ?? []) {
    const found = fromEntry(entry);
    if (found?.versionId === versionId && found.document) return found.document;
  }
  throw new Error('deleted, and its tombstone is not in the resource history');
}

function hexBytes(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex.slice(2), 'hex'));
}

function describe(err: unknown): string {
  const response = (err as { response?: { status?: number } }).response;
  if (response?.status) return `the server answered HTTP ${response.status}`;
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}
