import { describe, expect, it } from 'vitest';
import { retryDelayMs } from './audit-writer.js';

describe('retryDelayMs', () => {
  it('writes at once after a success and backs off after failures, never retrying at once', () => {
    expect(retryDelayMs(0, 250, 5000)).toBe(0);
    expect([1, 2, 3, 4, 5, 6, 10].map((n) => retryDelayMs(n, 250, 5000))).toEqual([
      250, 500, 1000, 2000, 4000, 5000, 5000,
    ]);
  });
});
