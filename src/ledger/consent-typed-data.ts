import type { Address, Hex, TypedDataDefinition } from 'viem';

/** A grant's terms, as the contract's GrantTerms struct. */
export interface GrantTerms {
  patient: Hex;
  actor: Hex;
  classes: bigint;
  actions: number;
  purposes: number;
  validFrom: bigint;
  validUntil: bigint;
  /** 0 permit, 1 deny (see `Effect`). */
  effect: number;
  consentVersion: Hex;
}

const GRANT_TERMS = [
  { name: 'patient', type: 'bytes32' },
  { name: 'actor', type: 'bytes32' },
  { name: 'classes', type: 'uint256' },
  { name: 'actions', type: 'uint8' },
  { name: 'purposes', type: 'uint32' },
  { name: 'validFrom', type: 'uint64' },
  { name: 'validUntil', type: 'uint64' },
  { name: 'effect', type: 'uint8' },
  { name: 'consentVersion', type: 'bytes32' },
] as const;

/** EIP-712 types of the patient-signed ConsentRegistry changes. */
export const consentTypes = {
  GrantTerms: GRANT_TERMS,
  Grant: [
    { name: 'grantId', type: 'bytes32' },
    { name: 'terms', type: 'GrantTerms' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
  Update: [
    { name: 'grantId', type: 'bytes32' },
    { name: 'terms', type: 'GrantTerms' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
  Revoke: [
    { name: 'grantId', type: 'bytes32' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
} as const;

export interface ConsentDomain {
  chainId: number;
  /** ConsentRegistry address. */
  verifyingContract: Address;
}

type ConsentTypedData<P extends 'Grant' | 'Update' | 'Revoke'> = TypedDataDefinition<
  typeof consentTypes,
  P
>;

function domain({ chainId, verifyingContract }: ConsentDomain) {
  return { name: 'ConsentRegistry', version: '1', chainId, verifyingContract } as const;
}

/**
 * What a patient (or delegate) signs for `grantWithSig` (or, with `primaryType` 'Update',
 * `updateWithSig`). `nonce` is `nonces(terms.patient)`; `deadline` is unix seconds.
 *
 * @example
 * const signature = await wallet.signTypedData(grantTypedData(domain, { grantId, terms, nonce, deadline }));
 */
export function grantTypedData(
  consentDomain: ConsentDomain,
  message: { grantId: Hex; terms: GrantTerms; nonce: bigint; deadline: bigint },
  primaryType: 'Grant' | 'Update' = 'Grant',
): ConsentTypedData<'Grant' | 'Update'> {
  return { domain: domain(consentDomain), types: consentTypes, primaryType, message };
}

/** What a patient (or delegate) signs for `revokeWithSig`. */
export function revokeTypedData(
  consentDomain: ConsentDomain,
  message: { grantId: Hex; nonce: bigint; deadline: bigint },
): ConsentTypedData<'Revoke'> {
  return { domain: domain(consentDomain), types: consentTypes, primaryType: 'Revoke', message };
}
