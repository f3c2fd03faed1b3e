import * as resources001 from './001-resources.js';
import * as auth002 from './002-auth.js';
import * as ledger003 from './003-ledger.js';
import * as consent004 from './004-consent.js';
import * as anchorRanges005 from './005-anchor-ranges.js';
import * as lifecycle006 from './006-consent-lifecycle.js';
import * as searchCovering007 from './007-search-covering.js';
import * as referenceTarget008 from './008-reference-target.js';

/** Applied in this order, each once; never edit a migration that has shipped, add one. */
export const migrations: ReadonlyArray<{ name: string; sql: string }> = [
  { name: '001-resources', sql: resources001.sql },
  { name: '002-auth', sql: auth002.sql },
  { name: '003-ledger', sql: ledger003.sql },
  { name: '004-consent', sql: consent004.sql },
  { name: '005-anchor-ranges', sql: anchorRanges005.sql },
  { name: '006-consent-lifecycle', sql: lifecycle006.sql },
  { name: '007-search-covering', sql: searchCovering007.sql },
  { name: '008-reference-target', sql: referenceTarget008.sql },
];
