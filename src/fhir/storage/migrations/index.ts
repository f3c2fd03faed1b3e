import * as resources001 from './001-resources.js';
import * as auth002 from './002-auth.js';
import * as ledger003 from './003-ledger.js';
import * as consent004 from './004-consent.js';
import * as searchCovering005 from './005-search-covering.js';

/** Applied in this order, each once; never edit a migration that has shipped, add one. */
export const migrations: ReadonlyArray<{ name: string; sql: string }> = [
  { name: '001-resources', sql: resources001.sql },
  { name: '002-auth', sql: auth002.sql },
  { name: '003-ledger', sql: ledger003.sql },
  { name: '004-consent', sql: consent004.sql },
  { name: '005-search-covering', sql: searchCovering005.sql },
];
