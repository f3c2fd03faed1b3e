/**
 * Batches as ranges of outbox seq: the relay claims a contiguous range in one cheap statement
 * instead of writing a batch id into every outbox row (that UPDATE limited the drain rate).
 * Batches cut before this migration keep their per-row batch_id; both kinds coexist.
 */
export const sql = `
-- A range batch holds every outbox row with first_seq <= seq <= last_seq that has no
-- batch_id of its own. Ranges follow each other without overlap (the relay claims them
-- under a lock, and last_seq is unique), gaps between them hold no unclaimed row; legacy
-- batches have no range.
-- A range's leaf_count is known once anchoring reads its leaves: claiming never reads rows.
ALTER TABLE anchor_batch
  ALTER COLUMN leaf_count DROP NOT NULL,
  ADD COLUMN first_seq bigint,
  ADD COLUMN last_seq  bigint,
  ADD COLUMN unrecoverable_at timestamptz,
  ADD CONSTRAINT anchor_batch_range CHECK (first_seq <= last_seq);
CREATE UNIQUE INDEX anchor_batch_last_seq ON anchor_batch (last_seq) WHERE last_seq IS NOT NULL;
-- Node hashes are random bytes: trying to compress them only costs time.
ALTER TABLE anchor_batch ALTER COLUMN tree SET STORAGE EXTERNAL;

-- New rows keep batch_id NULL for ever, so this index would only duplicate the primary key.
DROP INDEX anchor_outbox_pending;

-- Every INSERT into the outbox first takes this shared advisory lock, held to COMMIT and never
-- waited for (nobody takes it exclusively): it marks a transaction that may hold outbox seqs
-- not yet visible, and the relay waits for such transactions to end before it claims up to a
-- seq (src/ledger/anchor-store.ts, outboxHorizon). A BEFORE STATEMENT trigger runs before
-- any row's nextval, so no writer can bypass it.
CREATE FUNCTION anchor_outbox_writer_lock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(724311005);
  RETURN NULL;
END
$$;
CREATE TRIGGER anchor_outbox_writer_lock BEFORE INSERT ON anchor_outbox
  FOR EACH STATEMENT EXECUTE FUNCTION anchor_outbox_writer_lock();

-- Every outbox row with the batch that holds it (range or legacy), NULL while unclaimed.
CREATE VIEW anchor_leaf AS
SELECT o.seq, o.resource_type, o.id, o.version_id, o.content_hash, o.leaf, o.recorded_at,
       coalesce(o.batch_id, (
         SELECT r.id FROM (
           SELECT id, first_seq FROM anchor_batch
            WHERE last_seq >= o.seq ORDER BY last_seq LIMIT 1
         ) r WHERE r.first_seq <= o.seq
       )) AS batch_id
  FROM anchor_outbox o;
`;
