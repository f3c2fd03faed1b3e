// Starts a worker whose module is TypeScript (the tests and `tsx` run the sources): registers
// tsx in the worker, then imports the module. The built server (dist/) starts its .js directly.
import { workerData } from 'node:worker_threads';

const { register } = await import('tsx/esm/api');
register();
await import(workerData.workerModule);
