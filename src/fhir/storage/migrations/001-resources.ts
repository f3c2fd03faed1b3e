/** Resources: every version, the current one, and the search index tables. */
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
CREATE INDEX resource_current_updated ON resource_current (resource_type, last_updated);

-- Search indexes: one row per (resource, parameter, value) of the current version,
-- written in the same statement as the version. Each has an index for lookups by
-- value and one by resource (to probe and to replace a resource's rows).
CREATE TABLE token_index (
  resource_type text NOT NULL, id text NOT NULL, param text NOT NULL,
  system text, code text NOT NULL
);
CREATE INDEX token_index_value ON token_index (resource_type, param, code, system);
CREATE INDEX token_index_resource ON token_index (resource_type, id, param);

CREATE TABLE string_index (
  resource_type text NOT NULL, id text NOT NULL, param text NOT NULL,
  value text NOT NULL, norm text NOT NULL
);
CREATE INDEX string_index_value ON string_index (resource_type, param, norm text_pattern_ops);
CREATE INDEX string_index_resource ON string_index (resource_type, id, param);

CREATE TABLE date_index (
  resource_type text NOT NULL, id text NOT NULL, param text NOT NULL,
  low timestamptz NOT NULL, high timestamptz NOT NULL
);
CREATE INDEX date_index_value ON date_index (resource_type, param, low, high);
CREATE INDEX date_index_resource ON date_index (resource_type, id, param);

CREATE TABLE number_index (
  resource_type text NOT NULL, id text NOT NULL, param text NOT NULL,
  value numeric NOT NULL
);
CREATE INDEX number_index_value ON number_index (resource_type, param, value);
CREATE INDEX number_index_resource ON number_index (resource_type, id, param);

CREATE TABLE quantity_index (
  resource_type text NOT NULL, id text NOT NULL, param text NOT NULL,
  system text, code text, value numeric NOT NULL
);
CREATE INDEX quantity_index_value ON quantity_index (resource_type, param, code, value);
CREATE INDEX quantity_index_resource ON quantity_index (resource_type, id, param);

CREATE TABLE reference_index (
  resource_type text NOT NULL, id text NOT NULL, param text NOT NULL,
  target_type text, target_id text, url text
);
CREATE INDEX reference_index_value ON reference_index (resource_type, param, target_id, target_type);
CREATE INDEX reference_index_resource ON reference_index (resource_type, id, param);
CREATE INDEX reference_index_target ON reference_index (target_type, target_id);

CREATE TABLE uri_index (
  resource_type text NOT NULL, id text NOT NULL, param text NOT NULL,
  value text NOT NULL
);
CREATE INDEX uri_index_value ON uri_index (resource_type, param, value text_pattern_ops);
CREATE INDEX uri_index_resource ON uri_index (resource_type, id, param);
`;
