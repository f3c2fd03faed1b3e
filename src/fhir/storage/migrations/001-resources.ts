/** Resources: every version, the current one, and the token index. */
export const sql = `
-- Every version of every resource, tombstones included; seq gives the global order
-- that system and type history page through.
CREATE TABLE resource_version (
  seq           bigserial PRIMARY KEY,
  resource_type text        NOT NULL,
  id            text        NOT NULL,
  version_id    integer     NOT NULL,
  last_updated  timestamptz NOT NULL,
  method        text        NOT NULL CHECK (method IN ('POST', 'PUT', 'PATCH', 'DELETE')),
  content       jsonb,
  UNIQUE (resource_type, id, version_id)
);
CREATE INDEX resource_version_type_seq ON resource_version (resource_type, seq);

-- The latest version of each resource; a deleted resource keeps its row with deleted = true.
CREATE TABLE resource_current (
  resource_type text        NOT NULL,
  id            text        NOT NULL,
  version_id    integer     NOT NULL,
  last_updated  timestamptz NOT NULL,
  deleted       boolean     NOT NULL,
  content       jsonb,
  PRIMARY KEY (resource_type, id)
);

-- Token search index (system|code per search parameter), written in the same
-- transaction as the version; used by conditional interactions.
CREATE TABLE token_index (
  resource_type text NOT NULL,
  id            text NOT NULL,
  param         text NOT NULL,
  system        text,
  code          text NOT NULL
);
CREATE INDEX token_index_lookup ON token_index (resource_type, param, code, system);
CREATE INDEX token_index_resource ON token_index (resource_type, id);
`;
