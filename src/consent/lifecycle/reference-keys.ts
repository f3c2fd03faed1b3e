import type { Hex } from 'viem';
import type { Tx } from '../../fhir/storage/database.js';
import { referenceKey } from '../consent-to-grant.js';

/** Resource types a grant's actor can name (who receives data). */
const ACTOR_TYPES = [
  'Practitioner',
  'PractitionerRole',
  'Organization',
  'RelatedPerson',
  'Patient',
  'CareTeam',
  'Device',
  'Group',
];

/**
 * Salted key -> reference, for the references the database holds: the chain holds only
 * commitments, so a grant's patient and actor are recovered by hashing known references
 * until one matches. Each reference is hashed once per process; a miss hashes the ones
 * created since.
 */
export class ReferenceKeys {
  readonly #salt: Hex;
  readonly #byKey = new Map<string, string>();
  readonly #hashed = new Set<string>();

  constructor(salt: Hex) {
    this.#salt = salt;
  }

  async patient(tx: Tx, key: Hex): Promise<string | undefined> {
    return this.#find(tx, key, ['Patient']);
  }

  async actor(tx: Tx, key: Hex): Promise<string | undefined> {
    return this.#find(tx, key, ACTOR_TYPES);
  }

  async #find(tx: Tx, key: Hex, types: string[]): Promise<string | undefined> {
    const hit = this.#byKey.get(key.toLowerCase());
    if (hit && types.includes(hit.split('/')[0] as string)) return hit;
    const { rows } = await tx.query<{ ref: string }>(
      `SELECT resource_type || '/' || id AS ref FROM resource_current
        WHERE resource_type = ANY($1::text[]) AND NOT deleted`,
      [types],
    );
    for (const { ref } of rows) {
      if (this.#hashed.has(ref)) continue;
      this.#hashed.add(ref);
      this.#byKey.set(referenceKey(this.#salt, ref).toLowerCase(), ref);
    }
    const found = this.#byKey.get(key.toLowerCase());
    return found && types.includes(found.split('/')[0] as string) ? found : undefined;
  }
}
