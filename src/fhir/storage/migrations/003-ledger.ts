/**
 * Anchoring: the outbox (one row per stored version, written in the version's transaction)
 * and the batches the relay cuts from it and the worker anchors on chain.
 */
export const sql = `
-- One batch = one Merkle root on chain. batch_key is the on-chain batchId (random, so
-- two servers sharing a contract never collide); tree holds every node of the
-- OpenZeppelin tree (32 bytes each, tree order), from which each leaf's proof is read.
CREATE TABLE anchor_batch (
  id           bigserial PRIMARY KEY,
  batch_key    bytea       NOT NULL UNIQUE,
  leaf_count   integer     NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  enqueued_at  timestamptz,
  root         bytea,
  tree         bytea,
  tx_hash      bytea,
  sent_at      timestamptz,
  block_number bigint,
  anchored_at  timestamptz,
  attempts     integer     NOT NULL DEFAULT 0,
  last_error   text
);
CREATE INDEX anchor_batch_open ON anchor_batch (id) WHERE anchored_at IS NULL;

-- The leaf of every version (tombstones, Provenance and AuditEvent included). A row is
-- anchored when its batch is. No foreign key: the relay moves thousands of rows per batch.
CREATE TABLE anchor_outbox (
  seq           bigserial   PRIMARY KEY,
  resource_type text        NOT NULL,
  id            text        NOT NULL,
  version_id    integer     NOT NULL,
  content_hash  bytea       NOT NULL,
  leaf          bytea       NOT NULL,
  recorded_at   timestamptz NOT NULL DEFAULT now(),
  batch_id      bigint,
  UNIQUE (resource_type, id, version_id)
);
CREATE INDEX anchor_outbox_pending ON anchor_outbox (seq) WHERE batch_id IS NULL;
CREATE INDEX anchor_outbox_batch ON anchor_outbox (batch_id) WHERE batch_id IS NOT NULL;
`;
