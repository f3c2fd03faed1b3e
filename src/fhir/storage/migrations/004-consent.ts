/**
 * The consent mirror: ConsentRegistry state rebuilt from its events (src/consent/chain-mirror.ts).
 * Everything here can be dropped and rebuilt from the chain's logs alone.
 */
export const sql = `
-- One row per registry followed: the last block whose logs are applied, and its hash, so a
-- reorganisation or a reset chain is noticed and the state replayed.
CREATE TABLE consent_mirror (
  registry                 bytea   PRIMARY KEY,
  last_block               bigint  NOT NULL,
  last_block_hash          bytea,
  custodian_grants_allowed boolean NOT NULL DEFAULT true
);

-- Every grant ever seen, with its current terms; revoked ones stay (status 2) so a grant id
-- is never mistaken for a new one. classes is a uint256, kept as numeric.
CREATE TABLE consent_grant (
  registry        bytea    NOT NULL,
  grant_id        bytea    NOT NULL,
  patient         bytea    NOT NULL,
  actor           bytea    NOT NULL,
  classes         numeric(78, 0) NOT NULL,
  actions         smallint NOT NULL,
  purposes        bigint   NOT NULL,
  valid_from      numeric(20, 0) NOT NULL,
  valid_until     numeric(20, 0) NOT NULL,
  effect          smallint NOT NULL,
  consent_version bytea    NOT NULL,
  status          smallint NOT NULL,
  block_number    bigint   NOT NULL,
  PRIMARY KEY (registry, grant_id)
);
CREATE INDEX consent_grant_active ON consent_grant (registry, patient, actor) WHERE status = 1;

CREATE TABLE consent_patient_account (
  registry bytea NOT NULL,
  patient  bytea NOT NULL,
  account  bytea NOT NULL,
  PRIMARY KEY (registry, patient)
);

CREATE TABLE consent_delegate (
  registry bytea NOT NULL,
  patient  bytea NOT NULL,
  delegate bytea NOT NULL,
  PRIMARY KEY (registry, patient, delegate)
);
`;
