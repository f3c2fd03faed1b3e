import {
  type Address,
  BaseError,
  type ContractFunctionArgs,
  type ContractFunctionName,
  ContractFunctionRevertedError,
} from 'viem';
import { simulateContract, waitForTransactionReceipt, writeContract } from 'viem/actions';
import { FhirError, issue } from '../../fhir/errors.js';
import type { Tx } from '../../fhir/storage/database.js';
import { consentRegistryAbi } from '../../ledger/abi/consent-registry.js';
import type { LedgerClient } from '../../ledger/ledger-client.js';

type Writable = ContractFunctionName<typeof consentRegistryAbi, 'nonpayable'>;

export interface ConsentChain {
  client: LedgerClient;
  registry: Address;
  /** How long to wait for a receipt before answering 503. */
  receiptTimeoutMs?: number;
}

/**
 * Sends one ConsentRegistry transaction from the server's key and waits until it is mined.
 * Simulated first, so a revert becomes a 4xx naming the contract's reason before anything is
 * sent; an unreachable chain (or a transaction not mined in time) is 503. Senders of this key
 * (the anchoring worker too) are serialised by the same advisory lock as anchor-batch.ts, held
 * only while sending, so they never pick the same nonce. The lock is taken on `db`, the
 * connection of the write's own transaction: a second connection per write could exhaust the
 * pool under concurrent Consent writes, each waiting for a connection the others hold.
 *
 * @example
 * await sendConsentTransaction(chain, tx, 'revoke', [grantId]);
 */
export async function sendConsentTransaction<F extends Writable>(
  chain: ConsentChain,
  db: Tx,
  functionName: F,
  args: ContractFunctionArgs<typeof consentRegistryAbi, 'nonpayable', F>,
  signed = false,
): Promise<void> {
  const lockName = `anchor-signer:${chain.client.account.address}`;
  let hash: `0x${string}`;
  await db.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [lockName]);
  try {
    const { request } = await simulateContract(chain.client, {
      address: chain.registry,
      abi: consentRegistryAbi,
      functionName,
      args,
      account: chain.client.account,
      // biome-ignore lint/suspicious/noExplicitAny: viem cannot narrow a generic function name's args
    } as any);
    hash = await writeContract(chain.client, request);
  } catch (err) {
    throw classify(err, signed);
  } finally {
    // Session-level, so a rollback would not release it: always unlocked here.
    await db.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lockName]);
  }
  let status: 'success' | 'reverted';
  try {
    ({ status } = await waitForTransactionReceipt(chain.client, {
      hash,
      timeout: chain.receiptTimeoutMs ?? 30_000,
    }));
  } catch (err) {
    throw unavailable(err);
  }
  // Simulated a moment ago: a revert now means another write raced this one.
  if (status !== 'success') {
    throw new FhirError(409, [issue('conflict', `ConsentRegistry.${functionName} reverted`)]);
  }
}

/** Contract errors a client can act on; anything else is the chain's fault (503). */
const REVERTS: Record<string, [number, string]> = {
  ConsentRegistryUnauthorized: [
    403,
    'the ConsentRegistry refuses the server as custodian for this patient (custodian grants are disabled on chain): submit patient-signed grants',
  ],
  ConsentRegistryGrantExists: [409, 'the grant already exists on chain'],
  ConsentRegistryGrantRevoked: [409, 'the grant is already revoked on chain'],
  ConsentRegistryGrantNotFound: [409, 'the grant does not exist on chain'],
  ConsentRegistryTooManyGrants: [
    422,
    'too many active grants for one patient and actor (32): revoke some first',
  ],
  ConsentRegistryInvalidScope: [422, 'a grant would have no class, action or purpose'],
  ConsentRegistryInvalidPeriod: [422, 'a grant would end before it starts'],
  ConsentRegistryExpiredSignature: [422, 'the signature deadline has passed'],
  ConsentRegistryPatientAlreadyBound: [409, 'the patient key is bound to another account'],
  ECDSAInvalidSignature: [422, 'the signature is malformed'],
  ECDSAInvalidSignatureLength: [422, 'the signature is malformed'],
  ECDSAInvalidSignatureS: [422, 'the signature is malformed'],
};

function classify(err: unknown, signed: boolean): FhirError {
  if (err instanceof FhirError) return err;
  if (err instanceof BaseError) {
    const revert = err.walk((e) => e instanceof ContractFunctionRevertedError);
    if (revert instanceof ContractFunctionRevertedError) {
      const name = revert.data?.errorName ?? '';
      if (signed && name === 'ConsentRegistryUnauthorized') {
        // With a signature the recovered signer is what the contract refused.
        return new FhirError(422, [
          issue(
            'invalid',
            'the signature is not by the patient account or a delegate (wrong key, terms, nonce or deadline)',
            'Consent.extension',
          ),
        ]);
      }
      const known = REVERTS[name];
      if (known) {
        const code = known[0] === 403 ? 'forbidden' : known[0] === 409 ? 'conflict' : 'invalid';
        return new FhirError(known[0], [issue(code, `${known[1]} (${name})`)]);
      }
    }
  }
  return unavailable(err);
}

/** The chain did not answer: nothing is stored, the client may retry (503). */
export function unavailable(cause: unknown): FhirError {
  return new FhirError(
    503,
    [issue('transient', 'the consent chain is unavailable: nothing was stored, retry later')],
    { cause },
  );
}
