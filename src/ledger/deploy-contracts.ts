import type { Account, Address, Chain, Client, Hash, Transport } from 'viem';
import { deployContract, getChainId, waitForTransactionReceipt } from 'viem/actions';
import { consentRegistryAbi, consentRegistryBytecode } from './abi/consent-registry.js';
import { provenanceAnchorAbi, provenanceAnchorBytecode } from './abi/provenance-anchor.js';
import { DeployError } from './errors.js';

export interface DeployContractsParameters {
  /** Whether the operator may grant and revoke for patients (can only be switched off later). */
  allowCustodianGrants: boolean;
  /** Holder of DEFAULT_ADMIN_ROLE on both contracts. Default: the deploying account. */
  admin?: Address;
  /** The server's key: gets CUSTODIAN_ROLE and ANCHORER_ROLE. Default: the deploying account. */
  operator?: Address;
  /** Blocks to wait for on each deployment. Default 1. */
  confirmations?: number;
}

export interface DeployContractsReturnType {
  chainId: number;
  consentRegistry: Address;
  provenanceAnchor: Address;
  /** Block of the later of the two deployments: where a log mirror starts reading. */
  blockNumber: bigint;
  transactionHashes: { consentRegistry: Hash; provenanceAnchor: Hash };
}

/**
 * Deploys ConsentRegistry and ProvenanceAnchor from the generated ABIs and bytecode; the roles
 * go to the operator through the constructors, so there is no window without them.
 *
 * @example
 * const deployment = await deployContracts(client, { allowCustodianGrants: true });
 */
export async function deployContracts(
  client: Client<Transport, Chain, Account>,
  params: DeployContractsParameters,
): Promise<DeployContractsReturnType> {
  const admin = params.admin ?? client.account.address;
  const operator = params.operator ?? client.account.address;
  const confirmations = params.confirmations ?? 1;

  // One after the other: sending both at once can reuse a nonce on nodes without a mempool view.
  const registry = await deployAndWait(client, 'ConsentRegistry', confirmations, () =>
    deployContract(client, {
      abi: consentRegistryAbi,
      bytecode: consentRegistryBytecode,
      args: [admin, operator, params.allowCustodianGrants],
    }),
  );
  const anchor = await deployAndWait(client, 'ProvenanceAnchor', confirmations, () =>
    deployContract(client, {
      abi: provenanceAnchorAbi,
      bytecode: provenanceAnchorBytecode,
      args: [admin, operator],
    }),
  );
  return {
    chainId: await getChainId(client),
    consentRegistry: registry.address,
    provenanceAnchor: anchor.address,
    blockNumber: anchor.blockNumber,
    transactionHashes: { consentRegistry: registry.hash, provenanceAnchor: anchor.hash },
  };
}

async function deployAndWait(
  client: Client<Transport, Chain, Account>,
  name: string,
  confirmations: number,
  send: () => Promise<Hash>,
): Promise<{ address: Address; hash: Hash; blockNumber: bigint }> {
  let hash: Hash;
  try {
    hash = await send();
  } catch (cause) {
    throw new DeployError(`deploying ${name} failed`, { cause });
  }
  const receipt = await waitForTransactionReceipt(client, { hash, confirmations });
  if (receipt.status !== 'success' || !receipt.contractAddress) {
    throw new DeployError(`deploying ${name} reverted`, { details: `transaction ${hash}` });
  }
  return { address: receipt.contractAddress, hash, blockNumber: receipt.blockNumber };
}
