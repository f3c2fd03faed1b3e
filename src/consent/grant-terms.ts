import type { Hex } from 'viem';

/**
 * The ConsentRegistry's `GrantTerms` as viem decodes and encodes them (uint64 -> bigint,
 * uint8/uint32/enum -> number). Encodings: contracts/README.md and src/ledger/consent-encoding.ts.
 */
export interface GrantTerms {
  patient: Hex;
  actor: Hex;
  classes: bigint;
  actions: number;
  purposes: number;
  validFrom: bigint;
  validUntil: bigint;
  /** 0 permit, 1 deny (`Effect` in consent-encoding.ts). */
  effect: number;
  consentVersion: Hex;
}
