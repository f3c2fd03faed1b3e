import {
  type Account,
  type Chain,
  type Client,
  createPublicClient,
  createWalletClient,
  defineChain,
  type Hex,
  http,
  type PublicActions,
  publicActions,
  type RpcSchema,
  type Transport,
  type WalletActions,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { getChainId } from 'viem/actions';

export interface CreateLedgerClientParameters {
  rpcUrl: string;
  /** Key of the account that signs: the server's key (custodian and anchorer). */
  privateKey: Hex;
  /** Skips asking the node for its chain id. */
  chainId?: number;
  /** How often to poll for blocks and receipts. Default 1000 ms; 100 suits a local anvil. */
  pollingInterval?: number;
}

/** A wallet client with public actions, bound to one account and one chain. */
export type LedgerClient = Client<
  Transport,
  Chain,
  Account,
  RpcSchema,
  WalletActions<Chain, Account> & PublicActions<Transport, Chain, Account>
>;

/**
 * Builds the viem client the ledger code uses against any EVM JSON-RPC endpoint.
 *
 * @example
 * const client = await createLedgerClient({ rpcUrl: anvil.rpcUrl, privateKey });
 */
export async function createLedgerClient(
  params: CreateLedgerClientParameters,
): Promise<LedgerClient> {
  const transport = http(params.rpcUrl);
  const pollingInterval = params.pollingInterval ?? 1000;
  const id = params.chainId ?? (await getChainId(createPublicClient({ transport })));
  const chain = defineChain({
    id,
    name: `chain-${id}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [params.rpcUrl] } },
  });
  return createWalletClient({
    account: privateKeyToAccount(params.privateKey),
    chain,
    transport,
    pollingInterval,
  }).extend(publicActions);
}
