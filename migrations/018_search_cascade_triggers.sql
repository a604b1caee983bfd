-- feedback_search without 016's foreign key (issue 15's read side, issue 18's CPU per feedback;
-- docs/prioritization.md "Full-text vectors", docs/performance.md "The search fill's cost").
-- REFERENCES feedback (id) checked every vector the fill inserted: one lookup per row that also
-- locks the feedback row (FOR KEY SHARE: a heap write and a WAL record), about a quarter of the
-- fill's cost. Deleting or truncating feedback now removes the vectors through statement-level
-- triggers: one set-based delete per statement from its transition table.
--
-- What the key also gave: a fill racing a delete could not leave a vector behind. The fill and
-- the delete trigger now take the one row of feedback_search_mark in turn: a fill updates it
-- before its snapshot is taken (services/prioritize/search.c) and holds it to its commit; the
-- trigger locks it before deleting the vectors. So the trigger either waits for a fill in flight
-- and then sees (read committed: a statement's snapshot) the vectors that fill wrote, or, in a
-- repeatable read or serializable transaction that cannot see them, fails with a serialization
-- error (the row was updated after its snapshot) and the deleting transaction is retried; a
-- fill that comes after the delete waits for the delete's commit and no longer sees the rows.
-- A delete holds the mark's row to its commit: fills wait meanwhile (later, not wrong). An
-- escucha-prioritize older than this migration does not take the row: stop old instances
-- before it is applied (each service applies migrations at start) if feedback is deleted then.
--
-- Every writer of feedback takes its transaction id before it draws a seq (the first statement
-- trigger below): a COPY draws the seqs of up to 1000 buffered rows before its first heap write,
-- and a client that stalled in between could otherwise hold seqs the fill's mark had passed
-- (search.c pairs each sequence value it reads with a later snapshot's xmax). Idempotent.

ALTER TABLE feedback_search DROP CONSTRAINT IF EXISTS feedback_search_id_fkey;

CREATE OR REPLACE FUNCTION feedback_search_drop_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM gone) THEN
    PERFORM 1 FROM feedback_search_mark FOR UPDATE;
    DELETE FROM feedback_search s USING gone g WHERE s.id = g.id;
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION feedback_search_drop_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- TRUNCATE's ACCESS EXCLUSIVE lock on feedback already waited for every fill in flight.
  TRUNCATE feedback_search;
  RETURN NULL;
EXCEPTION WHEN object_in_use THEN
  -- TRUNCATE feedback, feedback_search: the same statement has emptied it already.
  DELETE FROM feedback_search;
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION feedback_xid_first() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_current_xact_id();
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS feedback_search_delete ON feedback;
CREATE TRIGGER feedback_search_delete AFTER DELETE ON feedback REFERENCING OLD TABLE AS gone
  FOR EACH STATEMENT EXECUTE FUNCTION feedback_search_drop_gone();
DROP TRIGGER IF EXISTS feedback_search_truncate ON feedback;
CREATE TRIGGER feedback_search_truncate AFTER TRUNCATE ON feedback
  FOR EACH STATEMENT EXECUTE FUNCTION feedback_search_drop_all();
DROP TRIGGER IF EXISTS feedback_xid_first ON feedback;
CREATE TRIGGER feedback_xid_first BEFORE INSERT ON feedback
  FOR EACH STATEMENT EXECUTE FUNCTION feedback_xid_first();

