import pg from 'pg';

// bigint (seq) and timestamps stay strings: ids and ordering never lose precision,
// and instants are formatted by us, not by the driver's local time zone.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);
pg.types.setTypeParser(pg.types.builtins.TIMESTAMPTZ, (v) => v);

export type Tx = pg.PoolClient;

export interface Database {
  pool: pg.Pool;
  /** The connection string (another thread of this process connects with it). */
  url: string;
  /** Runs `work` in one transaction; rolls back when it throws. */
  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export function connectDatabase(connectionString: string, max = 10): Database {
  const pool = new pg.Pool({ connectionString, max });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  // A checked-out client whose connection PostgreSQL terminates (restart, failover) emits
  // 'error' when no query is running; unheard, that kills the process. Its next query fails
  // instead, which the caller handles, and the pool replaces the connection on release.
  pool.on('connect', (client) => client.on('error', () => {}));
  return {
    pool,
    url: connectionString,
    async transaction(work) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}
