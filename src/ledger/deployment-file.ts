import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DeployContractsReturnType } from './deploy-contracts.js';

/** A deployment as stored in the data folder (JSON, block number as a decimal string). */
export type Deployment = DeployContractsReturnType;

/** Reads a deployment written by `writeDeployment`; undefined when the file does not exist. */
export async function readDeployment(file: string): Promise<Deployment | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const stored = JSON.parse(text) as Omit<Deployment, 'blockNumber'> & { blockNumber: string };
  return { ...stored, blockNumber: BigInt(stored.blockNumber) };
}

/** Writes a deployment atomically (temporary file, then rename). */
export async function writeDeployment(file: string, deployment: Deployment): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${formatDeployment(deployment)}\n`);
  await rename(temporary, file);
}

/** The deployment as pretty JSON, as printed by the deploy CLI and stored on disk. */
export function formatDeployment(deployment: Deployment): string {
  return JSON.stringify({ ...deployment, blockNumber: deployment.blockNumber.toString() }, null, 2);
}
