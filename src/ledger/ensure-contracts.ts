import type { Account, Chain, Client, Transport } from 'viem';
import { getChainId, getCode } from 'viem/actions';
import { type DeployContractsParameters, deployContracts } from './deploy-contracts.js';
import { type Deployment, readDeployment, writeDeployment } from './deployment-file.js';

export interface EnsureContractsParameters extends DeployContractsParameters {
  /** Where the deployment is recorded, e.g. `<dataDir>/contracts.json`. */
  file: string;
}

export interface EnsureContractsReturnType extends Deployment {
  /** True when this call deployed (first start, or the recorded chain was lost). */
  deployed: boolean;
}

/**
 * Returns the deployment recorded in `file` if both contracts still have code on this chain;
 * otherwise deploys them and records the new deployment. Used at server start-up.
 *
 * @example
 * const { consentRegistry } = await ensureContracts(client, {
 *   file: path.join(dataDir, 'contracts.json'),
 *   allowCustodianGrants: true,
 * });
 */
export async function ensureContracts(
  client: Client<Transport, Chain, Account>,
  params: EnsureContractsParameters,
): Promise<EnsureContractsReturnType> {
  const { file, ...deployParams } = params;
  const recorded = await readDeployment(file);
  if (recorded && (await isLive(client, recorded))) return { ...recorded, deployed: false };
  const deployment = await deployContracts(client, deployParams);
  await writeDeployment(file, deployment);
  return { ...deployment, deployed: true };
}

async function isLive(client: Client, deployment: Deployment): Promise<boolean> {
  if ((await getChainId(client)) !== deployment.chainId) return false;
  const codes = await Promise.all([
    getCode(client, { address: deployment.consentRegistry }),
    getCode(client, { address: deployment.provenanceAnchor }),
  ]);
  return codes.every((code) => code !== undefined && code !== '0x');
}
