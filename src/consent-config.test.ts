import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('consent configuration', () => {
  it('defaults to the operator CLI client as the only custodian and a salt in the data folder', () => {
    expect(loadConfig({ DATA_DIR: '/srv/fl' }).consent).toEqual({
      saltFile: path.resolve('/srv/fl/consent/salt'),
      fromBlock: 0n,
      maxStalenessBlocks: 2,
      maxHeadAgeMs: 5000,
      pollIntervalMs: 25,
      confirmations: 0,
      custodianClients: ['local-cli'],
      custodianGrants: true,
      auditFlushMs: 1000,
      auditMaxPending: 50_000,
      auditGroup: true,
    });
  });

  it('reads every documented variable; an empty custodian list means none', () => {
    const consent = loadConfig({
      CONSENT_SALT_FILE: '/run/secrets/salt',
      CONSENT_FROM_BLOCK: '19000000',
      CONSENT_MAX_STALENESS_BLOCKS: '0',
      CONSENT_MAX_HEAD_AGE_MS: '15000',
      CONSENT_POLL_MS: '1000',
      CONSENT_CONFIRMATIONS: '3',
      CONSENT_CUSTODIAN_CLIENTS: '',
      CONSENT_CUSTODIAN_GRANTS: 'false',
      AUDIT_FLUSH_MS: '500',
      AUDIT_MAX_PENDING: '1000',
      AUDIT_GROUP: 'false',
    }).consent;
    expect(consent).toEqual({
      saltFile: '/run/secrets/salt',
      fromBlock: 19_000_000n,
      maxStalenessBlocks: 0,
      maxHeadAgeMs: 15_000,
      pollIntervalMs: 1000,
      confirmations: 3,
      custodianClients: [],
      custodianGrants: false,
      auditFlushMs: 500,
      auditMaxPending: 1000,
      auditGroup: false,
    });
    expect(
      loadConfig({ CONSENT_CUSTODIAN_CLIENTS: ' ehr-1, lab ,' }).consent.custodianClients,
    ).toEqual(['ehr-1', 'lab']);
  });

  it.each([
    [{ CONSENT_FROM_BLOCK: '-1' }, /CONSENT_FROM_BLOCK must be a block number/],
    [{ CONSENT_FROM_BLOCK: 'latest' }, /CONSENT_FROM_BLOCK must be a block number/],
    [{ CONSENT_CUSTODIAN_GRANTS: 'yes' }, /CONSENT_CUSTODIAN_GRANTS must be true or false/],
    [{ CONSENT_POLL_MS: '5' }, /CONSENT_POLL_MS must be an integer from 10/],
  ])('refuses %o', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
