import * as resources001 from './001-resources.js';

/** Applied in this order, each once; never edit a migration that has shipped, add one. */
export const migrations: ReadonlyArray<{ name: string; sql: string }> = [
  { name: '001-resources', sql: resources001.sql },
];
