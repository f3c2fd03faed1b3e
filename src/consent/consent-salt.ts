import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Hex } from 'viem';

const SALT = /^0x[0-9a-f]{64}$/;

/**
 * The deployment's consent salt: 32 secret bytes that turn every FHIR reference into the
 * commitment the chain holds (keccak256(abi.encode(salt, reference))). Read from `file`, or
 * created there (mode 0600) on the first start. Every process of a deployment must read the
 * same salt, and it must never change: a new salt orphans every grant on chain. Whoever
 * holds it can test guessed ids against the chain, so it is as secret as a signing key.
 *
 * @example
 * const salt = await loadConsentSalt(path.join(config.dataDir, 'consent', 'salt'));
 */
export async function loadConsentSalt(file: string): Promise<Hex> {
  let text: string;
  try {
    text = (await readFile(file, 'utf8')).trim().toLowerCase();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const salt: Hex = `0x${randomBytes(32).toString('hex')}`;
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    // Written aside, then linked into place: link fails if the file exists, so two processes
    // starting together agree on one salt, and neither ever reads a half-written file.
    const aside = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(aside, `${salt}\n`, { mode: 0o600 });
    try {
      await link(aside, file);
      return salt;
    } catch (raced) {
      if ((raced as NodeJS.ErrnoException).code !== 'EEXIST') throw raced;
      return loadConsentSalt(file);
    } finally {
      await rm(aside, { force: true });
    }
  }
  if (!SALT.test(text)) throw new Error(`${file}: not a 0x-prefixed 32-byte hex salt`);
  return text as Hex;
}
