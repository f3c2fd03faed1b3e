import { describe, expect, it } from 'vitest';
import { sharedBuffersMb } from './embedded-postgres.js';

const GB = 1024 ** 3;

describe('embedded PostgreSQL cache size', () => {
  it('is a quarter of the memory the process may use, the container limit when lower', () => {
    expect(sharedBuffersMb(24 * GB, 2 ** 64)).toBe(6144); // no limit: cgroup "max"
    expect(sharedBuffersMb(24 * GB, 0)).toBe(6144); // limit unknown
    expect(sharedBuffersMb(24 * GB, 4 * GB)).toBe(1024);
    expect(sharedBuffersMb(256 * 1024 ** 2, 0)).toBe(128);
  });
});
