/**
 * The Consent lifecycle (src/consent/lifecycle): which on-chain grants a stored Consent stands
 * for. Written in the same transaction as the Consent version, so a committed Consent always
 * names its grants, and a grant without a row here was not made through a committed Consent
 * (made on chain directly, or an orphan of a failed commit) and gets materialised.
 */
export const sql = `
CREATE TABLE consent_link (
  registry   bytea    NOT NULL,
  grant_id   bytea    NOT NULL,
  consent_id text     NOT NULL,
  -- 1 = recorded over REST (the server wrote or relayed it), 2 = materialised from the chain.
  origin     smallint NOT NULL,
  PRIMARY KEY (registry, grant_id)
);
CREATE INDEX consent_link_consent ON consent_link (registry, consent_id);
`;
