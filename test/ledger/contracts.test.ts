import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import {
  BaseError,
  ContractFunctionRevertedError,
  type Hex,
  keccak256,
  padHex,
  stringToBytes,
  stringToHex,
} from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consentRegistryAbi } from '../../src/ledger/abi/consent-registry.js';
import { provenanceAnchorAbi } from '../../src/ledger/abi/provenance-anchor.js';
import {
  ANVIL_DEV_PRIVATE_KEYS,
  type StartAnvilReturnType,
  startAnvil,
} from '../../src/ledger/anvil.js';
import {
  actionIndex,
  actionMask,
  classIndex,
  classMask,
  commitment,
  Decision,
  Effect,
  PURPOSES,
  purposeIndex,
  purposeMask,
} from '../../src/ledger/consent-encoding.js';
import { type GrantTerms, grantTypedData } from '../../src/ledger/consent-typed-data.js';
import {
  type DeployContractsReturnType,
  deployContracts,
} from '../../src/ledger/deploy-contracts.js';
import { createLedgerClient, type LedgerClient } from '../../src/ledger/ledger-client.js';

const SALT = keccak256(stringToBytes('test-salt'));
const PATIENT = commitment(SALT, 'Patient/p1');
const ACTOR = commitment(SALT, 'Practitioner/dr1');

let anvil: StartAnvilReturnType;
let server: LedgerClient;
let patient: LedgerClient;
let deployment: DeployContractsReturnType;

const [serverKey, patientKey] = ANVIL_DEV_PRIVATE_KEYS;

beforeAll(async () => {
  anvil = await startAnvil();
  server = await createLedgerClient({
    rpcUrl: anvil.rpcUrl,
    privateKey: serverKey,
    pollingInterval: 50,
  });
  patient = await createLedgerClient({
    rpcUrl: anvil.rpcUrl,
    privateKey: patientKey,
    pollingInterval: 50,
  });
  deployment = await deployContracts(server, { allowCustodianGrants: true });
});

afterAll(async () => {
  await anvil?.stop();
});

async function mined(hash: Hex) {
  const receipt = await server.waitForTransactionReceipt({ hash });
  expect(receipt.status).toBe('success');
  return receipt;
}

function terms(overrides: Partial<GrantTerms> = {}): GrantTerms {
  return {
    patient: PATIENT,
    actor: ACTOR,
    classes: classMask(['Observation', 'Condition']),
    actions: actionMask(['read']),
    purposes: purposeMask(['TREAT']),
    validFrom: 0n,
    validUntil: 0n,
    effect: Effect.Permit,
    consentVersion: commitment(SALT, 'Consent/c1/_history/1'),
    ...overrides,
  };
}

async function decide(actor: Hex, type: string, action: string, purpose: string) {
  const block = await server.getBlock();
  return server.readContract({
    address: deployment.consentRegistry,
    abi: consentRegistryAbi,
    functionName: 'decide',
    args: [
      PATIENT,
      actor,
      classIndex(type),
      actionIndex(action),
      purposeIndex(purpose),
      block.timestamp,
    ],
  });
}

function revertName(error: unknown): string | undefined {
  if (!(error instanceof BaseError)) return undefined;
  const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
  return reverted instanceof ContractFunctionRevertedError ? reverted.data?.errorName : undefined;
}

describe('deployContracts', () => {
  it('deploys both contracts and gives the server its roles', async () => {
    expect(deployment.chainId).toBe(anvil.chainId);
    const registry = { address: deployment.consentRegistry, abi: consentRegistryAbi } as const;
    const anchor = { address: deployment.provenanceAnchor, abi: provenanceAnchorAbi } as const;
    const custodianRole = await server.readContract({
      ...registry,
      functionName: 'CUSTODIAN_ROLE',
    });
    const anchorerRole = await server.readContract({ ...anchor, functionName: 'ANCHORER_ROLE' });
    const me = server.account.address;
    expect(
      await server.readContract({
        ...registry,
        functionName: 'hasRole',
        args: [custodianRole, me],
      }),
    ).toBe(true);
    expect(
      await server.readContract({ ...anchor, functionName: 'hasRole', args: [anchorerRole, me] }),
    ).toBe(true);
    expect(await server.readContract({ ...registry, functionName: 'custodianGrantsAllowed' })).toBe(
      true,
    );
  });
});

describe('ConsentRegistry through the generated ABI', () => {
  const registry = () =>
    ({ address: deployment.consentRegistry, abi: consentRegistryAbi }) as const;

  it('binds the patient, grants, decides, and revokes', async () => {
    await mined(
      await server.writeContract({
        ...registry(),
        functionName: 'bindPatientAccount',
        args: [PATIENT, patient.account.address],
      }),
    );
    const grantId = commitment(SALT, 'Consent/c1');
    const receipt = await mined(
      await patient.writeContract({
        ...registry(),
        functionName: 'grant',
        args: [grantId, terms()],
      }),
    );

    const [created] = await server.getContractEvents({
      ...registry(),
      eventName: 'GrantCreated',
      fromBlock: receipt.blockNumber,
      toBlock: receipt.blockNumber,
    });
    expect(created?.args).toEqual({
      grantId,
      patient: PATIENT,
      actor: ACTOR,
      terms: terms(),
      by: patient.account.address,
    });
    expect(await decide(ACTOR, 'Observation', 'read', 'TREAT')).toBe(Decision.Permit);
    expect(await decide(ACTOR, 'Observation', 'write', 'TREAT')).toBe(Decision.NotApplicable);
    expect(await decide(ACTOR, 'Patient', 'read', 'TREAT')).toBe(Decision.NotApplicable);

    await mined(
      await patient.writeContract({ ...registry(), functionName: 'revoke', args: [grantId] }),
    );
    expect(await decide(ACTOR, 'Observation', 'read', 'TREAT')).toBe(Decision.NotApplicable);
    const stored = await server.readContract({
      ...registry(),
      functionName: 'getGrant',
      args: [grantId],
    });
    expect(stored.status).toBe(2);
  });

  it('accepts a grant the patient signed (EIP-712) and relayed by the server', async () => {
    const grantId = commitment(SALT, 'Consent/c2');
    const deny = terms({ effect: Effect.Deny, purposes: purposeMask(PURPOSES) });
    const nonce = await server.readContract({
      ...registry(),
      functionName: 'nonces',
      args: [PATIENT],
    });
    const deadline = (await server.getBlock()).timestamp + 3600n;
    const signature = await patient.signTypedData(
      grantTypedData(
        { chainId: deployment.chainId, verifyingContract: deployment.consentRegistry },
        { grantId, terms: deny, nonce, deadline },
      ),
    );
    await mined(
      await server.writeContract({
        ...registry(),
        functionName: 'grantWithSig',
        args: [grantId, deny, deadline, signature],
      }),
    );
    expect(await decide(ACTOR, 'Condition', 'read', 'HRESCH')).toBe(Decision.Deny);

    // The same signature cannot be used twice.
    const replay = server.simulateContract({
      ...registry(),
      functionName: 'grantWithSig',
      args: [grantId, deny, deadline, signature],
    });
    await expect(replay).rejects.toSatisfy((e) => revertName(e) === 'ConsentRegistryUnauthorized');
  });
});

describe('ProvenanceAnchor through the generated ABI', () => {
  const anchor = () =>
    ({ address: deployment.provenanceAnchor, abi: provenanceAnchorAbi }) as const;

  it('anchors a StandardMerkleTree root and verifies its proofs on chain', async () => {
    const versions = ['Patient/a/_history/1', 'Observation/b/_history/3', 'Condition/c/_history/2'];
    const values = versions.map((ref) => [ref, keccak256(stringToBytes(`{"ref":"${ref}"}`))]);
    const tree = StandardMerkleTree.of(values, ['string', 'bytes32']);
    const root = tree.root as Hex;
    const batchId = padHex(stringToHex('batch-1'), { dir: 'right' });

    const receipt = await mined(
      await server.writeContract({
        ...anchor(),
        functionName: 'anchor',
        args: [root, BigInt(values.length), batchId],
      }),
    );
    const block = await server.getBlock({ blockNumber: receipt.blockNumber });
    const record = await server.readContract({
      ...anchor(),
      functionName: 'getAnchor',
      args: [root],
    });
    expect(record).toEqual({
      batchId,
      leafCount: 3n,
      anchoredAt: block.timestamp,
      blockNumber: receipt.blockNumber,
      index: 0n,
    });

    for (const [i, value] of tree.entries()) {
      const leaf = tree.leafHash(value) as Hex;
      const proof = tree.getProof(i) as Hex[];
      const [ref, contentHash] = value as [string, Hex];
      expect(
        await server.readContract({
          ...anchor(),
          functionName: 'leafHash',
          args: [ref, contentHash],
        }),
      ).toBe(leaf);
      expect(
        await server.readContract({
          ...anchor(),
          functionName: 'verify',
          args: [proof, root, leaf],
        }),
      ).toBe(true);
    }

    const again = server.simulateContract({
      ...anchor(),
      functionName: 'anchor',
      args: [root, 3n, padHex(stringToHex('batch-2'), { dir: 'right' })],
    });
    await expect(again).rejects.toSatisfy(
      (e) => revertName(e) === 'ProvenanceAnchorRootAlreadyAnchored',
    );
  });
});
