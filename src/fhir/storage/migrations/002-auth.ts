/** SMART authorization: client assertion ids already used (replay protection shared by all API processes). */
export const sql = `
CREATE TABLE auth_assertion_jti (
  client_id  text        NOT NULL,
  jti        text        NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (client_id, jti)
);
CREATE INDEX auth_assertion_jti_expires ON auth_assertion_jti (expires_at);
`;
