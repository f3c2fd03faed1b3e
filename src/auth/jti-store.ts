import type pg from 'pg';

/**
 * Records a client assertion's `jti` until its `exp`; false when it was already
 * used. In PostgreSQL so that every API process behind a load balancer shares it.
 * Expired rows of the client are removed on the way (their jti may be reused).
 */
export async function recordJti(
  pool: pg.Pool,
  clientId: string,
  jti: string,
  expiresAt: number,
): Promise<boolean> {
  await pool.query('DELETE FROM auth_assertion_jti WHERE client_id = $1 AND expires_at < now()', [
    clientId,
  ]);
  const { rowCount } = await pool.query(
    `INSERT INTO auth_assertion_jti (client_id, jti, expires_at)
     VALUES ($1, $2, to_timestamp($3)) ON CONFLICT DO NOTHING`,
    [clientId, jti, expiresAt],
  );
  return rowCount === 1;
}
