import type { Patient, Resource } from 'fhir/r4.js';
import { describe, expect, it } from 'vitest';
import {
  createHooks,
  type Operation,
  present,
  type RequestContext,
  runBeforeOperation,
} from './hooks.js';

const ctx: RequestContext = { requestId: 'r1' };
const op: Operation = { interaction: 'read', resourceType: 'Patient', id: 'p1' };
const patient: Patient = { resourceType: 'Patient', id: 'p1', name: [{ family: 'Kept' }] };
const later = <T>(value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), 1));

describe('hook runners with listeners that answer at once or later', () => {
  it('runs beforeOperation listeners in order, waiting on those that return a promise', async () => {
    const hooks = createHooks();
    const calls: string[] = [];
    hooks.beforeOperation.push(
      () => void calls.push('sync 1'),
      async () => {
        await later(null);
        calls.push('async 2');
      },
      () => void calls.push('sync 3'),
    );
    await runBeforeOperation(hooks, op, ctx);
    expect(calls).toEqual(['sync 1', 'async 2', 'sync 3']);
  });

  it('answers without a promise when every listener answers at once', () => {
    const hooks = createHooks();
    hooks.beforeOperation.push(() => {});
    hooks.filterCandidate.push(() => true);
    hooks.beforeReturn.push((r) => ({ ...r, id: 'masked' }));
    expect(runBeforeOperation(hooks, op, ctx)).toBeUndefined();
    expect(present(hooks, patient, ctx)).toEqual({ ...patient, id: 'masked' });
  });

  it('refuses with the first error, thrown at once or rejected later, and runs no later listener', async () => {
    const hooks = createHooks();
    let reached = false;
    hooks.beforeOperation.push(
      async () => {
        await later(null);
        throw new Error('refused later');
      },
      () => {
        reached = true;
      },
    );
    await expect(runBeforeOperation(hooks, op, ctx)).rejects.toThrow('refused later');
    const syncHooks = createHooks();
    syncHooks.beforeOperation.push(() => {
      throw new Error('refused at once');
    });
    expect(() => runBeforeOperation(syncHooks, op, ctx)).toThrow('refused at once');
    expect(reached).toBe(false);
  });

  it('hides a resource from a filter that answers anything but true, at once or later', async () => {
    for (const answer of [undefined, 1, 'yes', null]) {
      const hooks = createHooks();
      hooks.filterCandidate.push(() => answer as unknown as boolean);
      expect(present(hooks, patient, ctx)).toBeUndefined();
      const deferred = createHooks();
      deferred.filterCandidate.push(async () => answer as unknown as boolean);
      expect(await present(deferred, patient, ctx)).toBeUndefined();
    }
  });

  it('hides a resource when any filter says so, whether at once or later, and masks it otherwise', async () => {
    const masks: string[] = [];
    const hooks = createHooks();
    hooks.filterCandidate.push(
      (r) => r.id !== 'hidden-now',
      (r) => later(r.id !== 'hidden-later'),
    );
    hooks.beforeReturn.push(
      async (r) => {
        masks.push('async');
        return { ...(await later(r)), meta: { tag: [{ code: 'a' }] } };
      },
      (r: Resource) => {
        masks.push('sync');
        return { ...r, language: 'en' };
      },
    );
    expect(await present(hooks, { ...patient, id: 'hidden-now' }, ctx)).toBeUndefined();
    expect(await present(hooks, { ...patient, id: 'hidden-later' }, ctx)).toBeUndefined();
    expect(masks).toEqual([]);
    expect(await present(hooks, patient, ctx)).toEqual({
      ...patient,
      meta: { tag: [{ code: 'a' }] },
      language: 'en',
    });
    expect(masks).toEqual(['async', 'sync']);
  });
});
